"""`GET /celery-status` and `GET /status`: cold and cached latency, and what a burst of them costs other endpoints.

Reads BROKER_URL and DATABASE_URL like the platform (PostgreSQL: a scratch database is created next to it and
dropped at the end); S3_ENDPOINT_URL/S3_ACCESS_KEY/S3_SECRET_KEY, or an embedded `weed mini` when unset. Starts
one worker on every queue (concurrency 2) and two API processes: one with the default CELERY_STATUS_CACHE_S
and one with 0, where every call makes an inspection round of its own (cold). Then measures:

  cold       `/celery-status` and `/status` one after another on the uncached API
  cached     the same on the default API, while its inspection is fresh
  enqueue    `POST /relatorio/diario` one after another, alone, then while 12 clients keep calling
             `/celery-status` on the same (cold, uncached) API
  burst      12 concurrent `/celery-status` on the default API with an expired cache, then `/status`
             and an enqueue right after (the issue's acceptance: within 6 s and 3 s)

The last line's figures are in milliseconds.

    BROKER_URL=amqp://guest:guest@127.0.0.1:5672/h6 \\
    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/postgres  python bench/status.py
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.environment import bench_environment  # noqa: E402
from bench.latency import KeepAlive, percentiles  # noqa: E402
from taskplatform.dev.embedded import free_port  # noqa: E402
from taskplatform.dev.processes import api_command, wait_until, worker_command  # noqa: E402
from taskplatform.messaging.queues import TASK_QUEUES  # noqa: E402

BURST = 12


def timed(call: Callable[[], object], times: int) -> list[float]:
    latency = []
    for _ in range(times):
        started = time.perf_counter()
        call()
        latency.append(time.perf_counter() - started)
    return latency


def burst(url: str, clients: int) -> list[float]:
    """Latencies (s) of `clients` concurrent `/celery-status` calls, each on its own connection."""
    def one(_: int) -> float:
        client = KeepAlive(url, {})
        started = time.perf_counter()
        client.call("GET", "/celery-status")
        return time.perf_counter() - started

    with ThreadPoolExecutor(max_workers=clients) as pool:
        return list(pool.map(one, range(clients)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=30, help="sequential calls per figure")
    args = parser.parse_args()
    with bench_environment("status", object_store=True) as bench:
        env, supervisor = bench.env, bench.supervisor
        supervisor.start("worker", worker_command(queues=TASK_QUEUES, concurrency=2, name="bench@%h"),
                         env=env, cwd=ROOT, stop_timeout=60)
        ports = {"default": free_port(), "uncached": free_port()}
        supervisor.start("api", api_command(host="127.0.0.1", port=ports["default"]), env=env, cwd=ROOT)
        supervisor.start("api-uncached", api_command(host="127.0.0.1", port=ports["uncached"]),
                         env={**env, "CELERY_STATUS_CACHE_S": "0"}, cwd=ROOT)
        urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        default, uncached = KeepAlive(urls["default"], {}), KeepAlive(urls["uncached"], {})
        wait_until(lambda: b'"ok":true' in default.call("GET", "/celery-status")
                   and b'"ok":true' in uncached.call("GET", "/celery-status"), timeout=90, interval=0.5,
                   what="the worker in both APIs' /celery-status")

        cold = timed(lambda: uncached.call("GET", "/celery-status"), args.calls)
        cold_status = timed(lambda: uncached.call("GET", "/status"), args.calls)
        default.call("GET", "/celery-status")
        cached = timed(lambda: default.call("GET", "/celery-status"), args.calls * 10)
        cached_status = timed(lambda: default.call("GET", "/status"), args.calls)

        enqueue = timed(lambda: uncached.call("POST", "/relatorio/diario", b""), args.calls)
        stop = threading.Event()

        def keep_asking() -> None:
            client = KeepAlive(urls["uncached"], {})
            while not stop.is_set():
                client.call("GET", "/celery-status")

        askers = [threading.Thread(target=keep_asking, daemon=True) for _ in range(BURST)]
        for asker in askers:
            asker.start()
        time.sleep(1.0)  # let the askers' rounds start
        loaded = timed(lambda: uncached.call("POST", "/relatorio/diario", b""), args.calls)
        stop.set()
        for asker in askers:
            asker.join(30)

        time.sleep(6.0)  # past the default API's CELERY_STATUS_CACHE_S (5 s): the burst finds it expired
        started = time.perf_counter()
        bursted = burst(urls["default"], BURST)
        burst_wall = time.perf_counter() - started
        after_status = timed(lambda: KeepAlive(urls["default"], {}).call("GET", "/status"), 1)[0]
        after_enqueue = timed(lambda: KeepAlive(urls["default"], {}).call("POST", "/relatorio/diario", b""), 1)[0]

        rows = [("/celery-status, cold (every call a round)", cold), ("/status, cold", cold_status),
                ("/celery-status, cached", cached), ("/status, cached inspection", cached_status),
                ("POST /relatorio/diario, alone", enqueue),
                (f"POST /relatorio/diario, {BURST} clients on /celery-status", loaded),
                (f"{BURST} concurrent /celery-status, expired cache", bursted)]
        print(f"{'':<56} {'p50 ms':>9} {'p99 ms':>9} {'max ms':>9}")
        for label, latency in rows:
            p50, p99 = percentiles(latency)
            print(f"{label:<56} {p50:>9.2f} {p99:>9.2f} {max(latency) * 1000:>9.2f}")
        print(f"burst of {BURST}: all answered within {burst_wall * 1000:.0f} ms; /status right after "
              f"{after_status * 1000:.0f} ms, an enqueue right after {after_enqueue * 1000:.0f} ms")
        print(f"status: cold_p50_ms={percentiles(cold)[0]:.2f} cached_p50_ms={percentiles(cached)[0]:.2f} "
              f"burst_max_ms={max(bursted) * 1000:.0f} enqueue_p50_ms={percentiles(enqueue)[0]:.2f} "
              f"enqueue_loaded_p50_ms={percentiles(loaded)[0]:.2f}")
        return 0


if __name__ == "__main__":
    sys.exit(main())
