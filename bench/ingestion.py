"""Raw-JSON ingestion benchmark: the platform's consumers against the seeds' consumer loops.

Reads BROKER_URL (RabbitMQ) and DATABASE_URL (PostgreSQL) like the platform; S3_ENDPOINT_URL
and its keys, or an embedded `weed mini` when unset. In one run, on the same servers, each
way is timed from the first message published until the last one is applied:

  devices   platform: the `rasp_data` consumer bootstep (batched upserts, ack after commit)
            seed:     the seed's loop: pika, auto-ack, one query and commit per message
  sessions  platform: the `raw_sessions` consumer bootstep (uploads in flight at once)
            seed:     Worker IO's loop: prefetch 1, one upload at a time, ack after it
            ceiling:  PUTs straight to the object store, 1 and SESSIONS_IN_FLIGHT at a time (no broker); then
                      the platform out of a full queue (no publisher, like the ceiling)
  broker    ceiling:  the device messages to a bare pika consumer acking 500 at a time (no work): the
            publisher's bound on every rate above
  devices   out of a full queue (the consumer comparison): the queue filled first, each consumer timed from
            the moment it attaches: the bare consumer, the seed's loop and the platform

It deletes and recreates `rasp_data` and `raw_sessions`: point it at a broker for benchmarks.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import sys
import uuid
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.environment import bench_environment  # noqa: E402
from bench.ingestion_loops import (  # noqa: E402
    bare_consumer,
    reset_queues,
    seed_device_consumer,
    seed_session_consumer,
)
from bench.ingestion_sessions import (  # noqa: E402
    END,
    delete_end,
    session_bodies,
    session_stored,
    sessions_full_queue,
    sessions_stored,
    start_session_workers,
)
from bench.ingestion_timing import drained, process_cpu, put_ceiling, put_ceiling_processes, timed  # noqa: E402
from taskplatform.core.db import make_engine  # noqa: E402
from taskplatform.core.settings import get_settings  # noqa: E402
from taskplatform.dev.processes import worker_command  # noqa: E402


def device_bodies(count: int, devices: int = 1000) -> list[bytes]:
    bodies = [json.dumps({"id": f"pi-{n % devices}", "wifi_status": "connected", "mem_usage": "512 MB",
                          "cpu_temp": "48°C", "cpu_percent": float(n), "spi_buses": ["spi0.0"],
                          "net_ifaces": [{"name": "wlan0", "ip": "192.168.0.10"}]}).encode() for n in range(count - 1)]
    return [*bodies, json.dumps({"id": END, "cpu_percent": 1.0}).encode()]


def _device_applied(engine: Engine) -> bool:
    with engine.connect() as connection:
        return connection.execute(text("SELECT count(*) FROM device_status WHERE raspberry_id = :i"),
                                  {"i": END}).scalar_one() == 1


def _clear_devices(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM device_status"))


def _devices_full_queue(bench: Any, engine: Engine, args: argparse.Namespace) -> tuple[float, float, float, float]:
    """The three device consumers out of a full queue (the publisher excluded): bare, seed, platform; and the
    platform worker's CPU microseconds per message."""
    spawn = multiprocessing.get_context("spawn")
    broker_url = bench.broker_url
    finished = spawn.Event()
    bare = spawn.Process(target=bare_consumer, args=(broker_url, finished), daemon=True)
    bare_rate, _ = drained(bare.start, bare.is_alive, device_bodies(args.devices), "rasp_data", broker_url,
                        finished.is_set)
    bare.terminate()
    bare.join()
    _clear_devices(engine)
    seed = spawn.Process(target=seed_device_consumer, args=(broker_url, bench.database_url), daemon=True)
    seed_rate, _ = drained(seed.start, seed.is_alive, device_bodies(args.seed_devices), "rasp_data", broker_url,
                        lambda: _device_applied(engine))
    seed.terminate()
    seed.join()
    _clear_devices(engine)
    platform_rate, cpu_us = drained(
        lambda: bench.supervisor.start("worker", worker_command(queues=("devices",), concurrency=1,
                                                                name="bench-devices@%h"), env=bench.env, cwd=ROOT,
                                       stop_timeout=60),
        lambda: not bench.supervisor.exited(), device_bodies(args.devices), "rasp_data", broker_url,
        lambda: _device_applied(engine), cpu=lambda: process_cpu(bench.supervisor.get("worker").popen.pid))
    bench.supervisor.stop("worker")
    assert cpu_us is not None
    return bare_rate, seed_rate, platform_rate, cpu_us


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=50_000, help="device messages through the platform")
    parser.add_argument("--seed-devices", type=int, default=5_000)
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--seed-sessions", type=int, default=1_000)
    parser.add_argument("--sessions-in-flight", type=int,
                        help="uploads in flight: SESSIONS_IN_FLIGHT shared by the sessions workers, and the ceiling's")
    parser.add_argument("--sessions-workers", type=int, default=2,
                        help="workers consuming raw_sessions (each holds its share of the uploads in flight)")
    parser.add_argument("--only", choices=("devices", "sessions"), help="measure one of the two (default: both)")
    args = parser.parse_args()
    spawn = multiprocessing.get_context("spawn")
    with bench_environment("ingestion", object_store=True, amqp_only=True) as bench:
        broker_url, env, supervisor = bench.broker_url, bench.env, bench.supervisor
        in_flight = args.sessions_in_flight or get_settings().sessions_in_flight
        env["SESSIONS_IN_FLIGHT"] = str(in_flight)
        location = bench.location
        assert location is not None
        engine = make_engine(bench.database_url)

        results = {}
        parts = (args.only,) if args.only else ("devices", "sessions")
        for name in parts:
            reset_queues(broker_url)
            _clear_devices(engine)
            seed = spawn.Process(target=seed_device_consumer if name == "devices" else seed_session_consumer,
                                 args=(broker_url, bench.database_url) if name == "devices"
                                 else (broker_url, location), daemon=True)
            seed.start()
            seed_bodies = device_bodies(args.seed_devices) if name == "devices" else session_bodies(args.seed_sessions)
            queue = "rasp_data" if name == "devices" else "raw_sessions"
            done = (lambda: _device_applied(engine)) if name == "devices" else (lambda: session_stored(location))
            seed_rate = timed(seed.is_alive, seed_bodies, queue, broker_url, done)
            seed.terminate()
            seed.join()

            reset_queues(broker_url)
            _clear_devices(engine)
            if name == "sessions":
                delete_end(location)
                run = f"first{uuid.uuid4().hex[:8]}"
                workers = start_session_workers(bench, args.sessions_workers, in_flight)
                bodies = session_bodies(args.sessions, run)
                done = partial(sessions_stored, location, run, args.sessions - 1)
            else:
                workers = ["worker"]
                supervisor.start("worker", worker_command(queues=(name,), concurrency=1, name=f"bench-{name}@%h"),
                                 env=env, cwd=ROOT, stop_timeout=60)
                bodies = device_bodies(args.devices)
            platform_rate = timed(lambda: not supervisor.exited(), bodies, queue, broker_url, done)
            for worker in workers:
                supervisor.stop(worker)
            results[name] = (platform_rate, seed_rate, len(bodies), len(seed_bodies))
            unit = "msgs/s" if name == "devices" else "sessions/s"
            label = "from the first publish: " if name == "devices" else ""
            print(f"{name:<9} {label}platform {platform_rate:>9,.0f} {unit} ({len(bodies):,})   seed "
                  f"{seed_rate:>8,.0f} {unit} ({len(seed_bodies):,})   {platform_rate / seed_rate:.1f}x", flush=True)
        # The store's ceiling right after the platform's sessions: the machine's load drifts.
        if "sessions" in results:
            one = asyncio.run(put_ceiling(location, session_bodies(args.sessions), in_flight))
            spread = (put_ceiling_processes(location, session_bodies(args.sessions), in_flight, args.sessions_workers)
                      if args.sessions_workers > 1 else 0.0)
            ceiling = (one[0], max(one[1], spread))
            sessions = results["sessions"]
            print(f"the object store alone: {one[0]:,.0f} PUT/s one at a time; with {in_flight} in flight "
                  f"{one[1]:,.0f} PUT/s from one process" +
                  (f", {spread:,.0f} from {args.sessions_workers} processes" if spread else "") +
                  f" (the sessions ceiling: the higher, no publisher); the platform ({args.sessions_workers} "
                  f"worker(s)) reaches {sessions[0] / ceiling[1]:.0%} of it with {in_flight} in flight", flush=True)
            sessions_drain = sessions_full_queue(bench, args, in_flight)
            print(f"sessions out of a full queue (no publisher either): platform {sessions_drain:,.0f} sessions/s, "
                  f"{sessions_drain / ceiling[1]:.0%} of the store's ceiling", flush=True)
        if "devices" in results:
            reset_queues(broker_url)
            finished = spawn.Event()
            bare = spawn.Process(target=bare_consumer, args=(broker_url, finished), daemon=True)
            bare.start()
            broker_rate = timed(bare.is_alive, device_bodies(args.devices), "rasp_data", broker_url, finished.is_set)
            bare.terminate()
            bare.join()
            devices = results["devices"]
            print(f"from the first publish, the broker alone: {broker_rate:,.0f} msgs/s to a bare pika consumer "
                  f"acking 500 at a time (the publisher's bound); the platform reaches {devices[0] / broker_rate:.0%}"
                  " of it", flush=True)
            # The consumers compared: each out of a full queue, without the publisher's limit.
            bare_drain, seed_drain, platform_drain, cpu_us = _devices_full_queue(bench, engine, args)
            print(f"out of a full queue (the consumer comparison): platform {platform_drain:,.0f} msgs/s, seed "
                  f"{seed_drain:,.0f} msgs/s ({platform_drain / seed_drain:.1f}x), bare pika consumer "
                  f"{bare_drain:,.0f} msgs/s (the platform reaches {platform_drain / bare_drain:.0%} of it); "
                  f"platform worker CPU {cpu_us:.0f} µs/msg", flush=True)
        engine.dispose()
        if "devices" in results:
            print(f"devices: first_publish platform={devices[0]:.0f} seed={devices[1]:.0f} broker={broker_rate:.0f}; "
                  f"full_queue platform={platform_drain:.0f} seed={seed_drain:.0f} bare={bare_drain:.0f} "
                  f"ratio={platform_drain / seed_drain:.1f}x bare_fraction={platform_drain / bare_drain:.0%} "
                  f"cpu_us_per_msg={cpu_us:.0f}")
        if "sessions" in results:
            print(f"sessions: platform={sessions[0]:.0f} seed={sessions[1]:.0f} store={ceiling[1]:.0f} "
                  f"in_flight={in_flight} workers={args.sessions_workers} fraction={sessions[0] / ceiling[1]:.0%}; "
                  f"full_queue platform={sessions_drain:.0f} fraction={sessions_drain / ceiling[1]:.0%}")
        return 0


if __name__ == "__main__":
    sys.exit(main())
