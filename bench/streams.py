"""Live-update streams: what 500 open `GET /tarefa/{id}/eventos` cost the other requests of one API process.

Reads BROKER_URL and DATABASE_URL like the platform (PostgreSQL: a scratch database is created next to it and
dropped at the end). Starts one API process (uvicorn, as `make up` runs it; no worker: the bench writes the
ledger itself), creates --streams queued tasks, and while a writer adds a PROGRESS transition to one of them
every 50 ms (so the feed has work to fan out in both phases), measures `GET /tarefa/{id}` one request after
another on one keep-alive connection:

  baseline   no stream open
  streams    --streams streams open at once (one per task, each a connection of its own reading every event)

then closes the streams and checks that the API dropped them all (`taskplatform_event_streams` in /metrics).
The last line's figures are the p99 latencies in milliseconds.

    BROKER_URL=amqp://guest:guest@127.0.0.1:5672/h2 \\
    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/postgres  python bench/streams.py
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.environment import bench_environment  # noqa: E402
from bench.latency import KeepAlive, percentiles  # noqa: E402
from taskplatform.core.db import make_engine  # noqa: E402
from taskplatform.dev.embedded import free_port  # noqa: E402
from taskplatform.dev.processes import api_command, wait_until  # noqa: E402
from taskplatform.ledger.records import TaskState, create_task_record, record_transition  # noqa: E402


class Streams:
    """`count` event streams held open by one asyncio loop in a thread of its own (lean: one socket each)."""

    def __init__(self, port: int, task_ids: list[str], headers: dict[str, str]) -> None:
        self.port, self.task_ids, self.headers = port, task_ids, headers
        self.events = 0
        self.opened = threading.Event()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._main(),), daemon=True)
        self.stop: asyncio.Event | None = None

    async def _one(self, task_id: str, ready: list[int]) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        extra = "".join(f"{k}: {v}\r\n" for k, v in self.headers.items())
        writer.write(f"GET /tarefa/{task_id}/eventos HTTP/1.1\r\nHost: bench\r\n{extra}\r\n".encode())
        await writer.drain()
        opened = False
        try:
            while chunk := await reader.read(65536):
                if not opened and b"retry:" in chunk:
                    opened = True
                    ready.append(1)
                    if len(ready) == len(self.task_ids):
                        self.opened.set()
                self.events += chunk.count(b"event: transition")
        finally:
            writer.close()

    async def _main(self) -> None:
        self.stop = asyncio.Event()
        ready: list[int] = []
        tasks = [asyncio.create_task(self._one(task_id, ready)) for task_id in self.task_ids]
        await self.stop.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def start(self) -> None:
        self.thread.start()
        if not self.opened.wait(timeout=120):
            raise TimeoutError("the streams did not all open")

    def close(self) -> None:
        stop = self.stop
        if stop is not None:
            self.loop.call_soon_threadsafe(stop.set)
        self.thread.join(timeout=30)


def measure(api: KeepAlive, task_ids: list[str], calls: int) -> list[float]:
    latency: list[float] = []
    for task_id in itertools.islice(itertools.cycle(task_ids), calls):
        began = time.perf_counter()
        api.call("GET", f"/tarefa/{task_id}")
        latency.append(time.perf_counter() - began)
    return latency


def open_streams(api: KeepAlive) -> int:
    text = api.call("GET", "/metrics").decode()
    return int(next(line.split()[1] for line in text.splitlines() if line.startswith("taskplatform_event_streams ")))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=int, default=500)
    parser.add_argument("--requests", type=int, default=3000, help="GET /tarefa/{id} measured in each phase")
    args = parser.parse_args()
    with bench_environment("streams", object_store=False) as bench:
        engine = make_engine(bench.database_url)
        task_ids = [f"bench-{uuid.uuid4()}" for _ in range(args.streams)]
        with engine.begin() as connection:
            from sqlalchemy.orm import Session
            with Session(bind=connection) as session:
                for task_id in task_ids:
                    create_task_record(session=session, task_id=task_id, name="reports.daily", queue="reports")
        port = free_port()
        bench.supervisor.start("api", api_command(host="127.0.0.1", port=port), env=bench.env, cwd=ROOT)
        keys = [k.strip() for k in bench.env.get("API_KEYS", "").split(",") if k.strip()]
        headers = {"X-API-Key": keys[0]} if keys else {}
        api = KeepAlive(f"http://127.0.0.1:{port}", headers)
        wait_until(lambda: bool(api.call("GET", "/")), timeout=90, what="API")

        writing = threading.Event()
        writes = 0

        def writer() -> None:  # a PROGRESS transition every 50 ms, to a task with a stream open
            nonlocal writes
            from sqlalchemy.orm import Session
            for task_id in itertools.cycle(task_ids):
                if writing.wait(0.05):
                    return
                with Session(engine) as session, session.begin():
                    record_transition(session=session, task_id=task_id, name="reports.daily", queue="reports",
                                      state=TaskState.PROGRESS, progress=writes % 100,
                                      detail={"percent": writes % 100, "message": "bench"})
                writes += 1

        thread = threading.Thread(target=writer, daemon=True)
        thread.start()
        measure(api, task_ids, 300)  # warm-up
        baseline = measure(api, task_ids, args.requests)
        streams = Streams(port, task_ids, headers)
        began = time.perf_counter()
        streams.start()
        opened_s = time.perf_counter() - began
        assert open_streams(api) == args.streams
        events_before = streams.events
        loaded = measure(api, task_ids, args.requests)
        delivered = streams.events - events_before
        streams.close()
        wait_until(lambda: open_streams(api) == 0, timeout=30, interval=0.1, what="the API to drop the streams")
        writing.set()
        thread.join()
        api.close()
        engine.dispose()

    b50, b99 = percentiles(baseline)
    s50, s99 = percentiles(loaded)
    print(f"GET /tarefa/{{id}}, {args.requests} sequential requests per phase, one keep-alive connection; "
          f"a PROGRESS transition written every 50 ms ({writes} in all)")
    print(f"  baseline (0 streams):     p50 {b50:.2f} ms  p99 {b99:.2f} ms")
    print(f"  with {args.streams} open streams: p50 {s50:.2f} ms  p99 {s99:.2f} ms "
          f"(opened in {opened_s:.2f} s; {delivered} events delivered to them while measuring)")
    print(f"streams: open={args.streams} p99_ms={s99:.2f} baseline_p99_ms={b99:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
