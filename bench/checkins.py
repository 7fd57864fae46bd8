"""Check-in ingestion benchmark: the platform against the seed's way and a COPY ceiling.

Reads BROKER_URL and DATABASE_URL like the platform (PostgreSQL is required: the
ceiling is a COPY). Everything runs in a scratch database created next to
DATABASE_URL and dropped at the end, and in one process run, on the same servers:

  platform  HTTP POST /checkin/batch (10,000 per request) -> broker -> worker -> PostgreSQL
  seed      one message and one committed INSERT per check-in (the seed's consumer loop)
  copy      COPY of the same rows straight into the same table

It purges the broker's `checkins` queue first: point it at a broker for benchmarks.

    BROKER_URL=amqp://guest:guest@127.0.0.1:5672// \\
    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test  python bench/checkins.py
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from kombu import Connection
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.environment import bench_environment  # noqa: E402
from taskplatform.core.db import make_engine  # noqa: E402
from taskplatform.dev.embedded import free_port  # noqa: E402
from taskplatform.dev.processes import Supervisor, api_command, wait_until, worker_command  # noqa: E402
from taskplatform.gym.checkins import upsert_alunos  # noqa: E402

SEED_QUEUE = "bench_seed_checkins"
BATCH = 10_000


def make_rows(students: int, rows: int) -> list[tuple[int, str]]:
    """`rows` check-ins spread over `students`, distinct per (student, instant)."""
    start = datetime(2026, 5, 1, 6, tzinfo=UTC)
    per_student = -(-rows // students)
    out = [(s + 1, (start + timedelta(minutes=7 * k, seconds=s % 60)).isoformat())
           for k in range(per_student) for s in range(students)]
    return out[:rows]


def truncate(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("TRUNCATE checkins"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE checkins"))


def run_copy(engine: Engine, rows: list[tuple[int, str]]) -> float:
    """Rows/s of one COPY of the rows into `checkins` (the ceiling)."""
    payload = "".join(f"{i}\t{t}\n" for i, t in rows).encode()
    raw = engine.raw_connection()
    try:
        started = time.perf_counter()
        with raw.cursor() as cursor, cursor.copy("COPY checkins (aluno_id, data_hora) FROM STDIN") as copy:
            for offset in range(0, len(payload), 1 << 20):
                copy.write(payload[offset:offset + (1 << 20)])
        raw.commit()
        return len(rows) / (time.perf_counter() - started)
    finally:
        raw.close()


def _seed_consumer(broker_url: str, database_url: str, expected: int, done: multiprocessing.Queue) -> None:
    """The seed's consumer loop: per message, one INSERT and one commit, then ack."""
    from sqlalchemy.orm import Session

    from taskplatform.gym.models import Checkin

    engine = make_engine(database_url)
    processed = 0
    with Connection(broker_url) as connection:
        queue = connection.SimpleQueue(SEED_QUEUE)
        queue.consumer.qos(prefetch_count=1)
        while processed < expected:
            message = queue.get(block=True, timeout=60)
            body = json.loads(message.body)
            with Session(engine) as session:
                session.add(Checkin(aluno_id=body["aluno_id"], data_hora=datetime.fromisoformat(body["data_hora"])))
                session.commit()
            message.ack()
            processed += 1
        queue.close()
    done.put(time.perf_counter())


def run_seed(broker_url: str, database_url: str, rows: list[tuple[int, str]]) -> float:
    """Rows/s of the seed's way: one message and one committed INSERT per check-in."""
    with Connection(broker_url) as connection:
        connection.SimpleQueue(SEED_QUEUE).clear()
    spawn = multiprocessing.get_context("spawn")
    done: multiprocessing.Queue = spawn.Queue()
    consumer = spawn.Process(
        target=_seed_consumer, args=(broker_url, database_url, len(rows), done))
    consumer.start()
    try:
        started = time.perf_counter()
        with Connection(broker_url) as connection:
            queue = connection.SimpleQueue(SEED_QUEUE)
            for aluno_id, instant in rows:
                queue.put({"aluno_id": aluno_id, "data_hora": instant}, serializer="json")
            queue.close()
        finished = done.get(timeout=1800)
        return len(rows) / (finished - started)
    finally:
        consumer.join(timeout=10)
        with Connection(broker_url) as connection:
            connection.SimpleQueue(SEED_QUEUE).queue.delete()


def run_platform(env: dict[str, str], engine: Engine, rows: list[tuple[int, str]], clients: int,
                 concurrency: int, log_dir: Path) -> tuple[float, float]:
    """Rows/s end to end (first POST to last committed batch) and the HTTP-accept rate."""
    supervisor = Supervisor(log_dir=log_dir)
    port = free_port()
    with Connection(env["BROKER_URL"]) as connection:
        try:
            purged = connection.default_channel.queue_purge("checkins") or 0
        except Exception:  # not declared yet on this broker
            purged = 0
    if purged:
        print(f"(purged {purged} messages left in the broker's checkins queue)", flush=True)
    try:
        supervisor.start("worker", worker_command(queues=("checkins",), concurrency=concurrency, name="bench@%h"),
                         env=env, cwd=ROOT, stop_timeout=60)
        supervisor.start("api", api_command(host="127.0.0.1", port=port), env=env, cwd=ROOT)
        api = f"http://127.0.0.1:{port}"
        wait_until(lambda: httpx.get(f"{api}/status", timeout=5).json()["workers"]["ok"], timeout=90,
                   what="API and worker")
        bodies = [json.dumps([{"aluno_id": i, "data_hora": t} for i, t in rows[k:k + BATCH]]).encode()
                  for k in range(0, len(rows), BATCH)]
        with httpx.Client(base_url=api, timeout=120) as warm:
            assert warm.get("/tarefas", params={"limit": 1}).status_code == 200

        def post(body: bytes) -> str:
            with httpx.Client(base_url=api, timeout=120) as client:
                response = client.post("/checkin/batch", content=body, headers={"content-type": "application/json"})
                response.raise_for_status()
                return str(response.json()["task_id"])

        started_wall = datetime.now(UTC)
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=clients) as pool:
            task_ids = list(pool.map(post, bodies))
        accepted = time.perf_counter() - started

        def all_done() -> bool:
            with engine.connect() as connection:
                left = connection.execute(text("SELECT count(*) FROM task_records WHERE name = 'checkins.ingest_batch'"
                                               " AND state NOT IN ('SUCCESS', 'FAILURE')")).scalar_one()
            return left == 0

        wait_until(all_done, timeout=3600, interval=0.2, what="every batch to finish")
        with engine.connect() as connection:
            states = dict(connection.execute(text("SELECT state, count(*) FROM task_records GROUP BY state")).all())
            last = connection.execute(text("SELECT max(finished_at) FROM task_records")).scalar_one()
            stored = connection.execute(text("SELECT count(*) FROM checkins")).scalar_one()
        assert states == {"SUCCESS": len(task_ids)}, states
        assert stored == len(rows), (stored, len(rows))
        elapsed = (last - started_wall).total_seconds()
        return len(rows) / elapsed, len(rows) / accepted
    finally:
        supervisor.stop_all()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed-rows", type=int, default=20_000)
    parser.add_argument("--students", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=4, help="concurrent HTTP clients")
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes")
    args = parser.parse_args()
    with bench_environment("checkins", object_store=False) as bench:
        broker_url, database_url, env = bench.broker_url, bench.database_url, bench.env
        engine = make_engine(database_url)
        with Session(engine) as session, session.begin():
            upsert_alunos(session=session, alunos=[(i, f"aluno {i}") for i in range(1, args.students + 1)])
        rows = make_rows(args.students, args.rows)
        print(f"{len(rows):,} check-ins over {args.students:,} students; broker {broker_url.split('@')[-1]}, "
              f"database {database_url.split('@')[-1]}", flush=True)

        copy_rate = run_copy(engine, rows)
        print(f"copy      {copy_rate:>12,.0f} rows/s   ({len(rows):,} rows, one COPY)", flush=True)
        truncate(engine)
        seed_rows = rows[: args.seed_rows]
        seed_rate = run_seed(broker_url, database_url, seed_rows)
        print(f"seed      {seed_rate:>12,.0f} rows/s   ({len(seed_rows):,} rows, one message + commit each)",
              flush=True)
        truncate(engine)
        platform_rate, accept_rate = run_platform(env, engine, rows, args.clients, args.concurrency,
                                                  ROOT / "var" / "bench-logs")
        print(f"platform  {platform_rate:>12,.0f} rows/s   ({len(rows):,} rows in {len(rows) // BATCH} requests; "
              f"HTTP accepted at {accept_rate:,.0f} rows/s)", flush=True)
        print(f"platform/copy = {platform_rate / copy_rate:.0%}   platform/seed = {platform_rate / seed_rate:.1f}x")
        print(f"checkins: platform={platform_rate:.0f} seed={seed_rate:.0f} copy={copy_rate:.0f}")
        engine.dispose()
        return 0


if __name__ == "__main__":
    sys.exit(main())
