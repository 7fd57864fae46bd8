"""How bench/ingestion.py times a consumer: from the first publish, or out of a full queue; and the object store's
own ceiling."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from bench.ingestion_loops import consumer_count, publish, ready_count, reset_queues
from storage.s3 import S3Location, s3_client


def timed(consumer: Any, bodies: list[bytes], queue: str, broker_url: str, done: Any) -> float:
    """Messages per second from the first publish until `done()` holds; fails if the consumer dies.

    The publisher (one pika connection, about 5,000 msgs/s here) runs while the consumer consumes: this is the
    end-to-end rate, and it cannot exceed the publisher's."""
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


def process_cpu(pid: int) -> float:
    """CPU seconds (user and system) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def drained(start: Any, alive: Any, bodies: list[bytes], queue: str, broker_url: str, done: Any,
            cpu: Any = None) -> tuple[float, float | None]:
    """Messages per second out of a full queue: every body is in the queue (its depth checked) before the consumer
    that `start()` launches attaches; timed from that moment until `done()` holds: the consumer's own capacity,
    the publisher's excluded. With `cpu` (the consumer's CPU seconds so far), also its CPU microseconds per
    message over the same span (its start-up excluded)."""
    reset_queues(broker_url)
    publish(broker_url, queue, bodies)
    # Persistent messages are in the queue once the broker counts them: the same guarantee a publisher confirm
    # gives, without a round trip per message (pika's confirms are synchronous: 1,400 msgs/s here).
    deadline = time.monotonic() + 120
    while ready_count(broker_url, queue) < len(bodies):
        if time.monotonic() > deadline:
            raise SystemExit(f"{queue} did not fill up to {len(bodies)} messages")
        time.sleep(0.05)
    start()
    while not consumer_count(broker_url, queue):
        if not alive():
            raise SystemExit(f"the {queue} consumer exited before it attached")
        time.sleep(0.01)
    started, cpu_started = time.perf_counter(), cpu() if cpu else 0.0
    while not done():
        if not alive():
            raise SystemExit(f"the {queue} consumer exited before the last message was applied")
        time.sleep(0.05)  # as `timed`: each poll costs the machine (a HEAD to the store, a query) what it measures
    rate = len(bodies) / (time.perf_counter() - started)
    return rate, (cpu() - cpu_started) / len(bodies) * 1e6 if cpu else None


async def put_ceiling(location: S3Location, bodies: list[bytes], in_flight: int) -> tuple[float, float]:
    """PUTs per second straight to the store (no broker, no consumer): 1 and `in_flight` at a time (the
    consumer's own number, SESSIONS_IN_FLIGHT)."""
    rates = []
    async with s3_client(location, connections=in_flight) as client:
        for concurrency in (1, in_flight):
            gate = asyncio.Semaphore(concurrency)

            async def put(n: int, body: bytes, gate: asyncio.Semaphore = gate, prefix: int = concurrency) -> None:
                async with gate:
                    await client.put_object(Bucket=location.bucket, Key=f"ceiling/{prefix}/{n}.json", Body=body,
                                            ContentType="application/json")

            share = bodies[:1000] if concurrency == 1 else bodies  # one at a time: a sample is enough
            started = time.perf_counter()
            await asyncio.gather(*(put(n, b) for n, b in enumerate(share)))
            rates.append(len(share) / (time.perf_counter() - started))
    return rates[0], rates[1]


def _put_share(location: S3Location, bodies: list[bytes], in_flight: int, prefix: str, ready: Any, start: Any,
               done: Any) -> None:
    """One ceiling process: its share of the PUTs, `in_flight` at a time, once every process is ready."""
    async def run() -> None:
        async with s3_client(location, connections=in_flight) as client:
            gate = asyncio.Semaphore(in_flight)

            async def put(n: int, body: bytes) -> None:
                async with gate:
                    await client.put_object(Bucket=location.bucket, Key=f"{prefix}/{n}.json", Body=body,
                                            ContentType="application/json")

            await put(-1, b"{}")  # connection and credentials warm, as in a consumer that has been running
            ready.put(True)
            start.wait()
            await asyncio.gather(*(put(n, b) for n, b in enumerate(bodies)))

    asyncio.run(run())
    done.put(time.perf_counter())


def put_ceiling_processes(location: S3Location, bodies: list[bytes], in_flight: int, processes: int) -> float:
    """PUTs per second from `processes` processes with `in_flight` PUTs in flight between them (each in_flight //
    processes): the store's ceiling for as many uploads in flight as `processes` consumers hold."""
    import multiprocessing

    spawn = multiprocessing.get_context("spawn")
    ready, start, done = spawn.Queue(), spawn.Event(), spawn.Queue()
    shares = [bodies[i::processes] for i in range(processes)]
    workers = [spawn.Process(target=_put_share, args=(location, share, in_flight // processes, f"ceiling/p{i}",
                                                        ready, start, done), daemon=True)
               for i, share in enumerate(shares)]
    for worker in workers:
        worker.start()
    for _ in workers:  # each process has imported and made its client: start-up is not what is measured
        ready.get(timeout=120)
    began = time.perf_counter()
    start.set()
    ended = max(done.get(timeout=300) for _ in workers)
    for worker in workers:
        worker.join()
    return len(bodies) / (ended - began)
