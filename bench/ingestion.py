"""Raw-JSON ingestion benchmark: the platform's consumers against the seeds' consumer loops.

Reads BROKER_URL (RabbitMQ) and DATABASE_URL (PostgreSQL) like the platform; S3_ENDPOINT_URL
and its keys, or an embedded `weed mini` when unset. In one run, on the same servers, each
way is timed from the first message published until the last one is applied:

  devices   platform: the `rasp_data` consumer bootstep (batched upserts, ack after commit)
            seed:     the seed's loop: pika, auto-ack, one query and commit per message
  sessions  platform: the `raw_sessions` consumer bootstep (uploads in flight at once)
            seed:     Worker IO's loop: prefetch 1, one upload at a time, ack after it
            ceiling:  PUTs straight to the object store, 1 and 32 at a time (no broker)
  broker    ceiling:  the device messages to a bare pika consumer acking 500 at a time (no work)

It deletes and recreates `rasp_data` and `raw_sessions`: point it at a broker for benchmarks.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pika
from sqlalchemy import Engine, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.environment import bench_environment  # noqa: E402
from storage.s3 import S3Location, s3_client  # noqa: E402
from taskplatform.core.db import make_engine  # noqa: E402
from taskplatform.dev.processes import worker_command  # noqa: E402

END = "bench-end"


def _pika(broker_url: str) -> pika.BlockingConnection:
    parts = urlsplit(broker_url)
    vhost = parts.path[1:] or "/"
    return pika.BlockingConnection(pika.ConnectionParameters(
        parts.hostname, parts.port or 5672, vhost, pika.PlainCredentials(parts.username or "guest",
                                                                        parts.password or "guest")))


def reset_queues(broker_url: str) -> None:
    connection = _pika(broker_url)
    channel = connection.channel()
    for queue in ("rasp_data", "raw_sessions"):
        channel.queue_delete(queue)
    channel.queue_declare(queue="rasp_data", durable=True)
    channel.queue_declare(queue="raw_sessions", durable=True,
                          arguments={"x-queue-type": "quorum", "x-delivery-limit": 5})
    connection.close()


def publish(broker_url: str, queue: str, bodies: list[bytes]) -> None:
    connection = _pika(broker_url)
    channel = connection.channel()
    for body in bodies:
        channel.basic_publish("", queue, body, pika.BasicProperties(delivery_mode=2))
    connection.close()


def device_bodies(count: int, devices: int = 1000) -> list[bytes]:
    bodies = [json.dumps({"id": f"pi-{n % devices}", "wifi_status": "connected", "mem_usage": "512 MB",
                          "cpu_temp": "48°C", "cpu_percent": float(n), "spi_buses": ["spi0.0"],
                          "net_ifaces": [{"name": "wlan0", "ip": "192.168.0.10"}]}).encode() for n in range(count - 1)]
    return [*bodies, json.dumps({"id": END, "cpu_percent": 1.0}).encode()]


def session_bodies(count: int) -> list[bytes]:
    events = [{"type": "click", "x": n, "y": n * 2, "t": n * 137} for n in range(40)]
    bodies = [json.dumps({"user_id": f"user_{n % 200}", "session_uuid": str(uuid.uuid4()),
                          "timestamp": "2024-01-01T12:00:00Z", "events": events, "metadata": {"ua": "bench"}}).encode()
              for n in range(count - 1)]
    return [*bodies, json.dumps({"user_id": "bench", "session_uuid": END, "events": []}).encode()]


def _device_applied(engine: Engine) -> bool:
    with engine.connect() as connection:
        return connection.execute(text("SELECT count(*) FROM device_status WHERE raspberry_id = :i"),
                                  {"i": END}).scalar_one() == 1


def seed_device_consumer(broker_url: str, database_url: str) -> None:
    """The seed's consumer: auto_ack, and per message a lookup, an update or insert, a commit."""
    from sqlalchemy.orm import Session

    from taskplatform.core.db import utcnow
    from taskplatform.devices.models import DeviceStatus

    engine = make_engine(database_url)
    fields = ("wifi_status", "mem_usage", "cpu_temp", "cpu_percent", "spi_buses", "net_ifaces")

    def callback(channel: Any, method: Any, properties: Any, body: bytes) -> None:
        data = json.loads(body)
        with Session(engine) as session:
            device = session.query(DeviceStatus).filter_by(raspberry_id=data["id"]).first()
            if device is None:
                device = DeviceStatus(raspberry_id=data["id"])
                session.add(device)
            for field in fields:
                if field in data:
                    setattr(device, field, data[field])
            device.last_update = utcnow()
            session.commit()

    connection = _pika(broker_url)
    channel = connection.channel()
    channel.basic_consume(queue="rasp_data", on_message_callback=callback, auto_ack=True)
    channel.start_consuming()


def bare_consumer(broker_url: str, finished: Any, prefetch: int = 1000, batch: int = 500) -> None:
    """RabbitMQ's own ceiling for `rasp_data`: pika, nothing done with a body, one multiple-ack per `batch`."""
    connection = _pika(broker_url)
    channel = connection.channel()
    channel.basic_qos(prefetch_count=prefetch)
    received = 0

    def callback(channel: Any, method: Any, properties: Any, body: bytes) -> None:
        nonlocal received
        received += 1
        if received % batch == 0 or body.startswith(b'{"id": "bench-end"'):
            channel.basic_ack(method.delivery_tag, multiple=True)
        if body.startswith(b'{"id": "bench-end"'):
            finished.set()

    channel.basic_consume(queue="rasp_data", on_message_callback=callback)
    channel.start_consuming()


def seed_session_consumer(broker_url: str, location: S3Location) -> None:
    """Worker IO's loop: prefetch 1, one upload at a time, ack after it succeeded."""
    loop = asyncio.new_event_loop()
    context = s3_client(location)
    client = loop.run_until_complete(context.__aenter__())

    def callback(channel: Any, method: Any, properties: Any, body: bytes) -> None:
        data = json.loads(body)
        key = f"sessions/{data['user_id']}/{data['session_uuid']}.json"
        loop.run_until_complete(client.put_object(Bucket=location.bucket, Key=key, Body=body,
                                                  ContentType="application/json"))
        channel.basic_ack(method.delivery_tag)

    connection = _pika(broker_url)
    channel = connection.channel()
    channel.basic_qos(prefetch_count=1)
    channel.basic_consume(queue="raw_sessions", on_message_callback=callback)
    channel.start_consuming()


def _session_stored(location: S3Location) -> bool:
    async def head() -> bool:
        async with s3_client(location) as client:
            await client.head_object(Bucket=location.bucket, Key=f"sessions/bench/{END}.json")
            return True

    return asyncio.run(head())


def timed(consumer: Any, bodies: list[bytes], queue: str, broker_url: str, done: Any) -> float:
    """Messages per second from the first publish until `done()` holds; fails if the consumer dies."""
    started = time.perf_counter()
    publish(broker_url, queue, bodies)

    def finished() -> bool:
        if not consumer():
            raise SystemExit(f"the {queue} consumer exited before the last message was applied")
        try:
            return bool(done())
        except Exception:  # e.g. the last object is not there yet (404)
            return False

    while not finished():
        time.sleep(0.05)
    return len(bodies) / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=50_000, help="device messages through the platform")
    parser.add_argument("--seed-devices", type=int, default=5_000)
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--seed-sessions", type=int, default=1_000)
    args = parser.parse_args()
    spawn = multiprocessing.get_context("spawn")
    with bench_environment("ingestion", object_store=True, amqp_only=True) as bench:
        broker_url, database_url, env, supervisor = bench.broker_url, bench.database_url, bench.env, bench.supervisor
        location = bench.location
        assert location is not None
        engine = make_engine(database_url)

        results = {}
        for name in ("devices", "sessions"):
            reset_queues(broker_url)
            with engine.begin() as connection:
                connection.execute(text("DELETE FROM device_status"))
            seed = spawn.Process(target=seed_device_consumer if name == "devices" else seed_session_consumer,
                                 args=(broker_url, database_url) if name == "devices" else (broker_url, location),
                                 daemon=True)
            seed.start()
            seed_bodies = device_bodies(args.seed_devices) if name == "devices" else session_bodies(args.seed_sessions)
            queue = "rasp_data" if name == "devices" else "raw_sessions"
            done = (lambda: _device_applied(engine)) if name == "devices" else (lambda: _session_stored(location))
            seed_rate = timed(seed.is_alive, seed_bodies, queue, broker_url, done)
            seed.terminate()
            seed.join()

            reset_queues(broker_url)
            with engine.begin() as connection:
                connection.execute(text("DELETE FROM device_status"))
            if name == "sessions":
                asyncio.run(_delete_end(location))
            supervisor.start("worker", worker_command(queues=(name,), concurrency=1, name=f"bench-{name}@%h"),
                             env=env, cwd=ROOT, stop_timeout=60)
            bodies = device_bodies(args.devices) if name == "devices" else session_bodies(args.sessions)
            platform_rate = timed(lambda: not supervisor.exited(), bodies, queue, broker_url, done)
            supervisor.stop("worker")
            results[name] = (platform_rate, seed_rate, len(bodies), len(seed_bodies))
            unit = "msgs/s" if name == "devices" else "sessions/s"
            print(f"{name:<9} platform {platform_rate:>9,.0f} {unit} ({len(bodies):,})   seed {seed_rate:>8,.0f} "
                  f"{unit} ({len(seed_bodies):,})   {platform_rate / seed_rate:.1f}x", flush=True)
        reset_queues(broker_url)
        finished = spawn.Event()
        bare = spawn.Process(target=bare_consumer, args=(broker_url, finished), daemon=True)
        bare.start()
        broker_rate = timed(bare.is_alive, device_bodies(args.devices), "rasp_data", broker_url, finished.is_set)
        bare.terminate()
        bare.join()
        print(f"the broker alone: {broker_rate:,.0f} msgs/s to a bare pika consumer acking 500 at a time (the devices "
              f"ceiling); the platform reaches {results['devices'][0] / broker_rate:.0%} of it", flush=True)
        ceiling = asyncio.run(_put_ceiling(location, session_bodies(1000)))
        print(f"the object store alone: {ceiling[0]:,.0f} PUT/s one at a time, {ceiling[1]:,.0f} PUT/s with 32 in "
              f"flight (the sessions ceiling); the platform reaches {results['sessions'][0] / ceiling[1]:.0%} of it",
              flush=True)
        engine.dispose()
        devices, sessions = results["devices"], results["sessions"]
        print(f"devices: platform={devices[0]:.0f} seed={devices[1]:.0f} broker={broker_rate:.0f}")
        print(f"sessions: platform={sessions[0]:.0f} seed={sessions[1]:.0f} store32={ceiling[1]:.0f}")
        return 0


async def _put_ceiling(location: S3Location, bodies: list[bytes]) -> tuple[float, float]:
    """PUTs per second straight to the store (no broker, no consumer): 1 and 32 at a time."""
    rates = []
    async with s3_client(location, connections=32) as client:
        for concurrency in (1, 32):
            gate = asyncio.Semaphore(concurrency)

            async def put(n: int, body: bytes, gate: asyncio.Semaphore = gate, prefix: int = concurrency) -> None:
                async with gate:
                    await client.put_object(Bucket=location.bucket, Key=f"ceiling/{prefix}/{n}.json", Body=body)

            started = time.perf_counter()
            await asyncio.gather(*(put(n, b) for n, b in enumerate(bodies)))
            rates.append(len(bodies) / (time.perf_counter() - started))
    return rates[0], rates[1]


async def _delete_end(location: S3Location) -> None:
    async with s3_client(location) as client:
        await client.delete_object(Bucket=location.bucket, Key=f"sessions/bench/{END}.json")


if __name__ == "__main__":
    sys.exit(main())
