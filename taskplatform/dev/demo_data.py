"""`python -m taskplatform demo-data`: a synthetic gym loaded through the public bulk API."""

from __future__ import annotations

import argparse
import time
from datetime import date, timedelta

import httpx

from ml.synthetic_gym import generate_gym
from taskplatform.core.settings import get_settings
from taskplatform.dev.processes import wait_until

BATCH = 10_000


def main(argv: list[str]) -> int:
    settings = get_settings()
    parser = argparse.ArgumentParser(prog="python -m taskplatform demo-data", description=__doc__)
    parser.add_argument("--students", type=int, default=3000)
    parser.add_argument("--days", type=int, default=182, help="history length, ending yesterday")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--api", default=f"http://{settings.api_host}:{settings.api_port}")
    parser.add_argument("--api-key", default=None, help="X-API-Key, when the API requires one")
    args = parser.parse_args(argv)

    start = date.today() - timedelta(days=args.days)
    started = time.monotonic()
    gym = generate_gym(students=args.students, start=start, days=args.days, tz=settings.tz, seed=args.seed)
    print(f"generated {len(gym.students):,} students and {len(gym.checkins):,} check-ins "  # noqa: T201
          f"from {gym.start} to {gym.end} ({len(gym.churned):,} of them quit)", flush=True)
    headers = {"X-API-Key": args.api_key} if args.api_key else {}
    with httpx.Client(base_url=args.api, timeout=120, headers=headers) as api:
        for offset in range(0, len(gym.students), BATCH):
            chunk = gym.students[offset:offset + BATCH]
            api.post("/alunos", json=[{"aluno_id": i, "nome": n} for i, n in chunk]).raise_for_status()
        task_ids = []
        for offset in range(0, len(gym.checkins), BATCH):
            batch = gym.checkins[offset:offset + BATCH]
            response = api.post("/checkin/batch", json=[{"aluno_id": i, "data_hora": t.isoformat()} for i, t in batch])
            response.raise_for_status()
            task_ids.append(response.json()["task_id"])
        pending = set(task_ids)

        def all_done() -> bool:
            for task_id in list(pending):
                state = api.get(f"/tarefa/{task_id}").json()["state"]
                if state == "FAILURE":
                    raise RuntimeError(f"batch {task_id} failed: see /tarefa/{task_id}")
                if state == "SUCCESS":
                    pending.discard(task_id)
            return not pending

        wait_until(all_done, timeout=1800, interval=0.5, what=f"{len(task_ids)} check-in batches")
    last_day = gym.end - timedelta(days=1)
    print(f"loaded in {time.monotonic() - started:.1f}s through POST /alunos and POST /checkin/batch. Next:\n"  # noqa: T201
          f"  curl -XPOST '{args.api}/relatorio/diario?data={last_day}'\n"
          f"  curl {args.api}/relatorio/diario/{last_day}\n"
          f"  curl -XPOST {args.api}/relatorio/churn/atualizar-modelo\n"
          f"  curl '{args.api}/relatorio/churn?limit=10'", flush=True)
    return 0
