"""Gym analytics benchmark: daily report and churn retraining on 5,000 students x 6 months.

Reads BROKER_URL and DATABASE_URL like the platform (PostgreSQL: a scratch database is
created next to it and dropped at the end); S3_ENDPOINT_URL/S3_ACCESS_KEY/S3_SECRET_KEY, or
an embedded `weed mini` when unset. Loads a synthetic gym plus one day of 50,000 check-ins,
then measures, side by side in one run:

  task       the Celery task on a real worker: its run time from the ledger (worker time)
             and the latency from POST to SUCCESS
  in-process the same computation called directly, without broker or worker (baseline)

    BROKER_URL=amqp://guest:guest@127.0.0.1:5672// \\
    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test  python bench/academia.py
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path

import httpx
import numpy as np
from sqlalchemy import Engine
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.environment import bench_environment  # noqa: E402
from ml.synthetic_gym import generate_gym  # noqa: E402
from taskplatform.core.db import make_engine  # noqa: E402
from taskplatform.dev.embedded import free_port  # noqa: E402
from taskplatform.dev.processes import api_command, wait_until, worker_command  # noqa: E402
from taskplatform.gym.checkins import ingest_checkins, upsert_alunos  # noqa: E402


def busy_day(students: int, day: date, tz: object, per_student: int = 10) -> list[tuple[int, str]]:
    """`students * per_student` check-ins spread over one local day, 05:00 to 23:00."""
    opening = datetime.combine(day, dtime(5), tz)  # type: ignore[arg-type]
    span = 18 * 3600
    rng = np.random.default_rng(1)
    rows = []
    for student in range(1, students + 1):
        for second in np.sort(rng.choice(span, per_student, replace=False)):
            rows.append((student, (opening + timedelta(seconds=int(second))).isoformat()))
    return rows


def load(engine: Engine, gym_students: list[tuple[int, str]], rows: list[tuple[int, str]]) -> None:
    if gym_students:
        with Session(engine) as session, session.begin():
            upsert_alunos(session=session, alunos=gym_students)
    for offset in range(0, len(rows), 10_000):
        chunk = rows[offset:offset + 10_000]
        with Session(engine) as session, session.begin():
            ingest_checkins(session=session, aluno_ids=[i for i, _ in chunk], instants=[t for _, t in chunk])


def run_task(api: httpx.Client, path: str, params: dict[str, str] | None = None) -> tuple[float, float, dict]:
    started = time.perf_counter()
    task_id = api.post(path, params=params).raise_for_status().json()["task_id"]
    record: dict = {}

    def done() -> bool:
        nonlocal record
        record = api.get(f"/tarefa/{task_id}").json()
        return record["state"] in {"SUCCESS", "FAILURE"}

    wait_until(done, timeout=1800, interval=0.05, what=path)
    assert record["state"] == "SUCCESS", record
    return record["runtime_s"], time.perf_counter() - started, record["result"]


def in_process_report(day: date) -> float:
    from tasks.reports import daily

    started = time.perf_counter()
    daily.run(data=day.isoformat())
    return time.perf_counter() - started


def in_process_churn() -> float:
    from tasks.churn import retrain

    started = time.perf_counter()
    retrain.run()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=5000)
    parser.add_argument("--days", type=int, default=182)
    args = parser.parse_args()
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(os.environ.get("TIMEZONE", "America/Sao_Paulo"))
    with bench_environment("academia", object_store=True) as bench:
        env, database_url, supervisor = bench.env, bench.database_url, bench.supervisor
        os.environ.update(env)  # the in-process baseline reads the same settings
        start = date.today() - timedelta(days=args.days + 8)
        gym = generate_gym(students=args.students, start=start, days=args.days, tz=tz, seed=7)
        peak = gym.end
        engine = make_engine(database_url)
        load(engine, gym.students, [(i, t.astimezone(UTC).isoformat()) for i, t in gym.checkins])
        normal_day = gym.end - timedelta(days=3)
        print(f"gym: {args.students:,} students, {len(gym.checkins):,} check-ins from {gym.start} to {gym.end}; "
              f"{peak} has {args.students * 10:,} check-ins", flush=True)

        port = free_port()
        supervisor.start("worker", worker_command(queues=("reports", "training"), concurrency=2, name="bench@%h"),
                         env=env, cwd=ROOT, stop_timeout=60)
        supervisor.start("api", api_command(host="127.0.0.1", port=port), env=env, cwd=ROOT)
        api = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
        wait_until(lambda: api.get("/status").json()["workers"]["ok"], timeout=90, what="API and worker")

        # Churn first: the busy day (everyone checks in) would leave no one who quit.
        churn_task, churn_latency, churn_result = run_task(api, "/relatorio/churn/atualizar-modelo")
        churn_inproc = in_process_churn()
        load(engine, [], busy_day(args.students, peak, tz))
        peak_task, peak_latency, peak_result = run_task(api, "/relatorio/diario", {"data": peak.isoformat()})
        normal_task, normal_latency, _ = run_task(api, "/relatorio/diario", {"data": normal_day.isoformat()})
        peak_inproc = in_process_report(peak)
        print(f"report, {peak_result['total_checkins']:,} check-ins: task {peak_task:.3f} s worker time "
              f"({peak_latency:.3f} s POST to SUCCESS), in-process {peak_inproc:.3f} s")
        print(f"report, an ordinary day: task {normal_task:.3f} s worker time ({normal_latency:.3f} s POST to SUCCESS)")
        print(f"churn retrain: task {churn_task:.2f} s worker time ({churn_latency:.2f} s POST to SUCCESS), "
              f"in-process {churn_inproc:.2f} s; ROC AUC {churn_result['metrics']['roc_auc']:.3f}, "
              f"precision in the top 10% {churn_result['metrics']['precision_top10']:.3f}, "
              f"{churn_result['scored_students']:,} students scored")
        print(f"academia: report_s={peak_task:.3f} churn_retrain_s={churn_task:.2f}")
        engine.dispose()
        return 0


if __name__ == "__main__":
    sys.exit(main())
