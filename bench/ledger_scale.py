"""The ledger at scale, for `bench/ledger.py --records N`: the read paths and the purge over N task records.

Seeds N finished task records (1 % FAILURE, 0.1 % QUEUED, the rest SUCCESS; eight task names on their queues)
spread evenly over the last 10 days, with three events each (QUEUED, STARTED, SUCCESS), in one
`INSERT ... SELECT FROM generate_series`, then ANALYZE. Against the running API (one process) it times:

  /tarefas      the first page (limit 50) unfiltered and with each filter (state, name, queue, since)
                with the total each reports and whether it is an estimate
  last page     `/tarefas?offset=<total-50>` against `/tarefas?cursor=<the key just before the last page>`,
                both over HTTP
  /metrics      the Prometheus scrape (after one warm-up scrape, as every p50 here: a large ledger's finished
                tasks' figures are then read in the background, at most every 30 s)
  purge         `purge_task_records` of the oldest day's records, while a writer inserts records (the
                producer's `create_task_record` and commit) one after another: its slowest transaction during
                the purge is the longest wait a writer saw (locks, CPU and WAL flushes alike), beside its slowest
                before the purge; and each write runs with `lock_timeout` 100 ms, so a lock held on it longer
                than that fails the write and is counted
"""

from __future__ import annotations

import json
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from psycopg.errors import LockNotAvailable
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bench.latency import KeepAlive
from taskplatform.core.cursor import encode_cursor
from taskplatform.core.db import make_engine

NAMES = ("checkins.ingest_batch", "devices.upsert", "sessions.store", "reports.daily", "churn.score",
         "housing.predict", "textgen.generate", "maintenance.purge_expired")
QUEUES = ("checkins", "devices", "sessions", "reports", "training", "predictions", "textgen", "reports")
DAYS = 10
#: The purge's aim: no writer waits on a lock for longer than this.
LOCK_AIM_MS = 100

SEED = text("""
INSERT INTO task_records (id, name, queue, state, attempts, created_at, updated_at, started_at, finished_at,
                          runtime_s, progress)
SELECT gen_random_uuid()::text, (CAST(:names AS text[]))[1 + g % 8], (CAST(:queues AS text[]))[1 + g % 8],
       CASE WHEN g % 100 = 0 THEN 'FAILURE' WHEN g % 1000 = 1 THEN 'QUEUED' ELSE 'SUCCESS' END,
       1, t, t, t, t + interval '5 milliseconds', 0.005, 100
FROM generate_series(1, :n) AS g,
     LATERAL (SELECT now() - (g::float8 / :n) * interval '10 days' AS t) AS c
""")
SEED_EVENTS = text("""
INSERT INTO task_events (task_id, state, at)
SELECT r.id, s.state, r.created_at FROM task_records r, unnest(ARRAY['QUEUED', 'STARTED', 'SUCCESS']) AS s(state)
""")


def seed(engine: Engine, records: int) -> float:
    began = time.perf_counter()
    with engine.begin() as connection:
        connection.execute(SEED, {"names": list(NAMES), "queues": list(QUEUES), "n": records})
        connection.execute(SEED_EVENTS)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("ANALYZE task_records"))
        connection.execute(text("ANALYZE task_events"))
    return time.perf_counter() - began


def p50_ms(call: Callable[[], object], repeats: int) -> float:
    call()  # the first call warms caches and connections
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        call()
        times.append(time.perf_counter() - began)
    return statistics.median(times) * 1000


def _get(client: KeepAlive, path: str) -> Callable[[], object]:
    return lambda: client.call("GET", path)


def _json(client: KeepAlive, path: str) -> dict[str, Any]:
    return dict(json.loads(client.call("GET", path)))  # a status other than 2xx raises


def reads(url: str, engine: Engine, repeats: int) -> dict[str, float]:
    client = KeepAlive(url, {})
    since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    figures: dict[str, float] = {}
    for label, query in (("/tarefas", {}), ("/tarefas?state=FAILURE", {"state": "FAILURE"}),
                         ("/tarefas?state=QUEUED", {"state": "QUEUED"}), ("/tarefas?name=devices.upsert",
                                                                         {"name": "devices.upsert"}),
                         ("/tarefas?queue=devices", {"queue": "devices"}), ("/tarefas?since=<1 h ago>",
                                                                           {"since": since})):
        path = f"/tarefas?{urlencode({**query, 'limit': 50})}"
        figures[label] = p50_ms(_get(client, path), repeats)
        first = _json(client, path)
        print(f"    {label:<40} p50 {figures[label]:>9.1f} ms   total {first['total']:>9,} "
              f"{'(estimate)' if first['total_estimado'] else '(exact)'}", flush=True)
    with engine.connect() as connection:
        total = int(connection.execute(text("SELECT count(*) FROM task_records")).scalar_one())
        created_at, task_id = connection.execute(text(
            "SELECT created_at, id FROM task_records ORDER BY created_at DESC, id DESC OFFSET :o LIMIT 1"),
            {"o": total - 51}).one()
    figures["last page, offset"] = p50_ms(_get(client, f"/tarefas?limit=50&offset={total - 50}"), repeats)
    # The cursor a client holds after paging down to the last page: the key of the row just before it.
    last = f"/tarefas?{urlencode({'limit': 50, 'cursor': encode_cursor((created_at, task_id))})}"
    figures["last page, cursor"] = p50_ms(_get(client, last), repeats)
    page = _json(client, last)
    if len(page["items"]) != 50 or page["proximo"] is not None:
        raise SystemExit(f"the cursor's last page has {len(page['items'])} rows and proximo={page['proximo']!r}")
    figures["/metrics"] = p50_ms(_get(client, "/metrics"), repeats)
    for label in ("last page, offset", "last page, cursor", "/metrics"):
        print(f"    {label:<40} p50 {figures[label]:>9.1f} ms", flush=True)
    client.close()
    return figures


def purge(engine: Engine) -> dict[str, float]:
    from taskplatform.ledger.records import create_task_record
    from taskplatform.ledger.retention import purge_task_records

    sessions = sessionmaker(bind=engine)
    stop, purging = threading.Event(), threading.Event()
    waits: dict[bool, list[float]] = {False: [], True: []}
    lock_timeouts = [0]

    def writer() -> None:
        while not stop.is_set():
            during = purging.is_set()
            began = time.perf_counter()
            with Session(engine) as session:
                # A lock waited on for longer than the aim fails the write: counted apart from the slowest time,
                # which also holds waits for the CPU and the WAL flush on a shared machine.
                session.execute(text(f"SET LOCAL lock_timeout = '{LOCK_AIM_MS}ms'"))
                try:
                    create_task_record(session=session, task_id=str(uuid.uuid4()), name=NAMES[1], queue=QUEUES[1])
                    session.commit()
                except OperationalError as exc:
                    if not isinstance(exc.orig, LockNotAvailable):
                        raise
                    lock_timeouts[0] += 1
            waits[during and purging.is_set()].append(time.perf_counter() - began)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    time.sleep(3.0)  # the writer's own latency, before the purge
    with engine.connect() as connection:
        oldest = connection.execute(text("SELECT min(created_at) FROM task_records")).scalar_one()
    purging.set()
    began = time.perf_counter()
    purged = purge_task_records(sessions, before=oldest + timedelta(days=1))
    took = time.perf_counter() - began
    purging.clear()
    stop.set()
    thread.join(30)
    before, during = waits[False], waits[True]
    result = {"purged": float(purged), "purge_s": took, "writer_max_before_ms": max(before) * 1000,
              "writer_max_during_ms": max(during or [0.0]) * 1000,
              "writer_p50_during_ms": statistics.median(during or [0.0]) * 1000, "writes_during": float(len(during)),
              "lock_waits_over_aim": float(lock_timeouts[0])}
    print(f"    purge of a day: {purged:,} records in {took:.1f} s; a concurrent writer's slowest transaction "
          f"{result['writer_max_during_ms']:.0f} ms during it ({len(during)} writes, p50 "
          f"{result['writer_p50_during_ms']:.1f} ms), {result['writer_max_before_ms']:.0f} ms before; "
          f"lock waits over {LOCK_AIM_MS} ms (the writer's lock_timeout): {lock_timeouts[0]}", flush=True)
    return result


def ledger_at_scale(url: str, database_url: str, records: int, repeats: int = 5) -> dict[str, Any]:
    engine = make_engine(database_url)
    try:
        took = seed(engine, records)
        print(f"  ledger at scale: {records:,} task records and {3 * records:,} events seeded in {took:.0f} s",
              flush=True)
        return {"records": records, "reads": reads(url, engine, repeats), "purge": purge(engine)}
    finally:
        engine.dispose()
