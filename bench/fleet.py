"""A Raspberry Pi fleet over HTTP: `POST /devices/health` offered at a fixed rate, open loop, on the Redis broker.

Starts an embedded Valkey as the broker, a scratch PostgreSQL database next to DATABASE_URL (created, migrated and
dropped at the end), the API (uvicorn: one process, as `make up` runs it; `--api-processes 2` as compose runs it)
and one worker on the `devices` queue (`-c 2`, the machine's cores). Then it offers --rate single health checks
per second for --seconds, each the JSON a Pi sends, from --devices distinct device ids (2,000 Pis every 5 s is
400 requests/s).

Open loop: request i is sent at start + i / rate whatever happened to the others (a free keep-alive connection
is taken, or a new one opened), and its latency counts from that scheduled moment to the end of its answer; so
a slow API shows as latency and as requests still unanswered, not as a lower offered rate. Every second the
broker's backlog (the length of the `devices` list in Valkey) is sampled; it "grows" when its trend over the run
is above 1 message/s. At the end: the answers, their p50/p99, the backlog, the tasks the worker finished during
the offer, and the CPU the API, the worker and this client used (which bounds what on 2 cores).

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/postgres  python bench/fleet.py --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.environment import bench_environment  # noqa: E402
from bench.latency import KeepAlive, cpu_seconds  # noqa: E402
from taskplatform.dev.embedded import free_port, start_valkey  # noqa: E402
from taskplatform.dev.processes import Supervisor, api_command, wait_until, worker_command  # noqa: E402

#: Keep-alive connections the client may hold open at once (2,000 Pis would each hold one).
CONNECTIONS = 512
#: A connection idle longer than this is not reused: uvicorn closes one idle for 5 s (`--timeout-keep-alive`), and a
#: request written as it closes is lost; HTTP clients' pools drop such connections the same way.
MAX_IDLE_S = 4.0


def reading(n: int, devices: int) -> bytes:
    """The seed's health check of device n % devices, as a Pi sends it."""
    return json.dumps({"id": f"pi-{n % devices:05d}", "wifi_status": "connected", "mem_usage": "512 MB",
                       "cpu_temp": f"{40 + n % 20}°C", "cpu_percent": float(n % 100), "led_internal_status": True,
                       "led_external_status": False, "gpio_used_count": 4, "spi_buses": ["spi0.0"],
                       "i2c_buses": [], "usb_devices_count": 1, "net_bytes_sent": 1000 + n, "net_bytes_recv": 2000,
                       "net_ifaces": [{"name": "wlan0", "ip": "192.168.0.10"}]}).encode()


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its children (the worker's prefork pool), from /proc."""
    total = cpu_seconds(pid)
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            total += tree_cpu(int(child))
    return total


def backlog(client: Any) -> int:
    """Messages waiting in the `devices` queue: kombu keeps one list per priority (`devices`, `devices\\x06\\x16N`)."""
    return sum(int(client.llen(key)) for key in client.scan_iter(match="devices*") if client.type(key) == b"list")


async def _answer(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    await reader.readexactly(length)
    return int(head.split(b" ", 2)[1])


async def offer(url: str, headers: dict[str, str], rate: float, seconds: float, devices: int,
                sample: Any) -> dict[str, Any]:
    """Send rate * seconds requests on schedule; latencies (s) of the answered ones, statuses, backlog samples."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    total = int(rate * seconds)
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []
    latency: list[float] = []
    statuses: dict[int | str, int] = {}
    samples: list[tuple[float, int]] = []
    opened = 0
    # At most this many connections: a request finding none free waits here, its latency still counted from its
    # scheduled moment (thousands of fresh connections would measure the kernel's accept queue instead).
    slots = asyncio.Semaphore(CONNECTIONS)

    async def one(i: int, due: float) -> None:
        async with slots:
            await exchange(i, due)

    async def exchange(i: int, due: float) -> None:
        nonlocal opened
        body = reading(i, devices)
        request = (f"POST /devices/health HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
                   f"Content-Length: {len(body)}\r\n{extra}\r\n").encode() + body
        try:
            connection = None
            while idle and connection is None:
                reader, writer, last_used = idle.pop()
                if reader.at_eof() or time.perf_counter() - last_used > MAX_IDLE_S:
                    writer.close()
                else:
                    connection = reader, writer
            if connection is None:
                opened += 1
                connection = await asyncio.open_connection(host, port)
            reader, writer = connection
            writer.write(request)
            status: int | str = await _answer(reader)
            idle.append((reader, writer, time.perf_counter()))
        except (OSError, asyncio.IncompleteReadError, StopIteration) as exc:
            status = type(exc).__name__
        statuses[status] = statuses.get(status, 0) + 1
        if status == 202:
            latency.append(time.perf_counter() - due)

    async def sampler(until: float) -> None:
        while time.perf_counter() < until:
            samples.append((time.perf_counter() - start, await asyncio.to_thread(sample)))
            await asyncio.sleep(1.0)

    start = time.perf_counter()
    watcher = asyncio.create_task(sampler(start + seconds))
    pending: list[asyncio.Task[None]] = []
    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        pending.append(asyncio.create_task(one(i, due)))
    offered_for = time.perf_counter() - start
    unanswered_at_end = sum(1 for task in pending if not task.done())
    end_backlog = await asyncio.to_thread(sample)
    await watcher
    await asyncio.wait(pending, timeout=60)
    drained = time.perf_counter() - start
    for _, writer, _ in idle:
        writer.close()
    return {"latency": latency, "statuses": statuses, "samples": samples, "offered_for": offered_for,
            "drained": drained, "unanswered_at_end": unanswered_at_end, "end_backlog": end_backlog,
            "connections": opened, "total": total}


def finished_tasks(database_url: str) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    with engine.connect() as connection:
        count = connection.scalar(text("SELECT count(*) FROM task_records WHERE state = 'SUCCESS'"))
    engine.dispose()
    return int(count or 0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=400.0, help="requests offered per second")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long they are offered")
    parser.add_argument("--devices", type=int, default=2000, help="distinct device ids")
    parser.add_argument("--concurrency", type=int, help="the worker's -c (default: its profile's)")
    parser.add_argument("--api-processes", type=int, default=1,
                        help="uvicorn processes of the API (WEB_CONCURRENCY; compose runs API_PROCESSES=2)")
    args = parser.parse_args()
    import redis

    valkeys = Supervisor(log_dir=ROOT / "var" / "bench-logs" / "fleet-valkey")
    try:
        broker_url = start_valkey(valkeys, data_dir=Path(tempfile.mkdtemp(prefix="bench-valkey-")))
        os.environ["BROKER_URL"] = broker_url
        with bench_environment("fleet", object_store=False) as bench:
            env = {**bench.env, "BROKER_URL": broker_url}
            port = free_port()
            api = bench.supervisor.start("api", api_command(host="127.0.0.1", port=port), cwd=ROOT,
                                         env={**env, "WEB_CONCURRENCY": str(args.api_processes)})
            worker = bench.supervisor.start("worker", worker_command(queues=["devices"], concurrency=args.concurrency,
                                                                     name="fleet@%h"), env=env, cwd=ROOT)
            url = f"http://127.0.0.1:{port}"
            keys = [k.strip() for k in env.get("API_KEYS", "").split(",") if k.strip()]
            headers = {"X-API-Key": keys[0]} if keys else {}
            probe = KeepAlive(url, headers)
            wait_until(lambda: probe.call("GET", "/") is not None, timeout=90, what="the API")
            first = json.loads(probe.call("POST", "/devices/health", reading(0, args.devices)))
            wait_until(lambda: json.loads(probe.call("GET", first["status_url"]))["state"] == "SUCCESS",
                       timeout=120, what="the worker")
            probe.close()
            queue = redis.Redis.from_url(broker_url)
            done_before = finished_tasks(bench.database_url)
            cpu = {"api": tree_cpu(api.pid), "worker": tree_cpu(worker.pid), "client": time.process_time()}
            result = asyncio.run(offer(url, headers, args.rate, args.seconds, args.devices, lambda: backlog(queue)))
            done = finished_tasks(bench.database_url) - done_before
            cpu = {"api": tree_cpu(api.pid) - cpu["api"], "worker": tree_cpu(worker.pid) - cpu["worker"],
                   "client": time.process_time() - cpu["client"]}
            queue.close()
    finally:
        valkeys.stop_all()
    report(args, result, done, cpu)
    return 0


def report(args: argparse.Namespace, result: dict[str, Any], done: int, cpu: dict[str, float]) -> None:
    latency, seconds = result["latency"], result["offered_for"]
    p50, p99 = (np.percentile(np.asarray(latency) * 1000, [50, 99]) if latency else (float("nan"), float("nan")))
    offered = result["total"] / seconds
    served = len(latency) / result["drained"]
    samples = result["samples"]
    times, lengths = np.asarray([t for t, _ in samples]), np.asarray([n for _, n in samples])
    trend = float(np.polyfit(times, lengths, 1)[0]) if len(samples) > 2 else 0.0
    print(f"offered {result['total']:,} health checks in {seconds:.1f} s ({offered:.0f}/s) from {args.devices:,} "
          f"devices; answered 202: {len(latency):,} by {result['drained']:.1f} s ({served:.0f}/s); other answers: "
          f"{ {k: v for k, v in result['statuses'].items() if k != 202} or 'none'}; still unanswered when the offer "
          f"ended: {result['unanswered_at_end']:,}; connections opened: {result['connections']}")
    print(f"latency from the scheduled send: p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    print("backlog of `devices` (s: messages): " + ", ".join(f"{t:.0f}: {n}" for t, n in samples[::5]))
    print(f"backlog at the end of the offer: {result['end_backlog']:,} messages; trend {trend:+.1f} messages/s "
          f"({'growing' if trend > 1.0 else 'not growing'}); the worker finished {done:,} tasks "
          f"({done / result['drained']:.0f}/s)")
    print(f"CPU over the run, in cores: API {cpu['api'] / seconds:.2f}, worker {cpu['worker'] / seconds:.2f}, this "
          f"client {cpu['client'] / seconds:.2f} (the machine has {os.cpu_count()}); per request: API "
          f"{cpu['api'] / max(1, len(latency)) * 1000:.2f} ms, worker {cpu['worker'] / max(1, done) * 1000:.2f} ms")
    print(f"fleet: offered={offered:.0f} served={served:.0f} p99_ms={p99:.0f} backlog={result['end_backlog']}")


if __name__ == "__main__":
    sys.exit(main())
