"""`/painel` (queues, workers, the last 24 h) and `/painel/agendamentos` (beat's schedule and its last runs)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from api.console.render import page
from api.deps import SessionDep
from api.routers.system import worker_inspections
from taskplatform.core.metrics import PlatformCollector
from taskplatform.core.settings import get_settings
from taskplatform.ledger.listing import TaskFilter, list_task_records_after
from taskplatform.ledger.models import TaskRecord
from taskplatform.ledger.records import count_by_state_since
from taskplatform.messaging.celery_app import app as celery_app
from taskplatform.messaging.queues import TASK_QUEUES
from taskplatform.messaging.schedule_runs import list_schedule_runs

router = APIRouter(prefix="/painel", include_in_schema=False)

#: States in the order a task goes through them, for the chart.
STATE_ORDER = ("QUEUED", "STARTED", "PROGRESS", "RETRY", "CANCELING", "SUCCESS", "FAILURE", "CANCELED", "REVOKED")
#: Last runs shown per schedule entry.
LAST_RUNS = 5


def _platform_samples() -> dict[str, dict[str, float]]:
    """Queue depths and dead letters waiting, per queue, as `/metrics` reads them (one collection)."""
    wanted = {"taskplatform_queue_depth": "depth", "taskplatform_dead_letters": "dead"}
    found: dict[str, dict[str, float]] = {"depth": {}, "dead": {}}
    for metric in PlatformCollector(get_settings()).collect():
        if metric.name in wanted:
            for sample in metric.samples:
                found[wanted[metric.name]][sample.labels["queue"]] = sample.value
    return found


@router.get("", response_class=HTMLResponse)
async def overview(request: Request, session: SessionDep) -> Response:
    samples = await run_in_threadpool(_platform_samples)
    inspection = await worker_inspections().get()
    consumers = {queue: sorted(name for name, worker in inspection.workers.items() if queue in worker["queues"])
                 for queue in TASK_QUEUES}
    queues: list[dict[str, Any]] = [
        {"name": q, "depth": int(samples["depth"].get(q, 0)), "known": q in samples["depth"],
         "consumers": consumers[q], "dead": int(samples["dead"].get(q, 0))} for q in TASK_QUEUES]
    since = datetime.now(UTC) - timedelta(hours=24)
    counts = await run_in_threadpool(lambda: count_by_state_since(session=session, since=since))
    states = [(s, counts.get(s, 0)) for s in STATE_ORDER if s in counts or s in ("SUCCESS", "FAILURE", "QUEUED")]
    states += [(s, c) for s, c in sorted(counts.items()) if s not in STATE_ORDER]
    finished = counts.get("SUCCESS", 0) + counts.get("FAILURE", 0)
    failure_rate = counts.get("FAILURE", 0) / finished if finished else None
    return page(request, "painel/visao_geral.html", queues=queues, workers=inspection.workers,
                inspection_reason=inspection.reason, states=states, total_24h=sum(counts.values()),
                failure_rate=failure_rate, dead_waiting=int(sum(samples["dead"].values())),
                max_state=max([c for _, c in states] or [0]), max_depth=max([int(q["depth"]) for q in queues] or [0]),
                depth_rows=[(q["name"], q["depth"]) for q in queues])


def _next_run(schedule: Any, now: datetime) -> tuple[datetime | None, str]:
    """When an entry fires next (crontab) or how often (an interval in seconds)."""
    if isinstance(schedule, int | float):
        return None, f"a cada {schedule:g} s"
    if isinstance(schedule, timedelta):
        return None, f"a cada {schedule.total_seconds():g} s"
    remaining = schedule.remaining_estimate(now)
    return now + remaining, str(schedule).removeprefix("<crontab: ").split(" (")[0]


def _entries(session: Any) -> list[dict[str, Any]]:
    """Each beat entry with its last fires as `schedule_runs` recorded them (which beat sent each, which other
    beats were refused) and the state of the task each fire sent; an entry never fired through a beat of this
    version shows its last tasks by name instead."""
    now = celery_app.now()
    rows = []
    for key, entry in sorted(celery_app.conf.beat_schedule.items()):
        when, rule = _next_run(entry["schedule"], now)
        fires = list_schedule_runs(session=session, schedule=key, limit=LAST_RUNS).items
        states = {record.id: record.state for record in session.scalars(
            select(TaskRecord).where(TaskRecord.id.in_([fire.task_id for fire in fires])))} if fires else {}
        runs = [] if fires else list_task_records_after(
            session=session, filters=TaskFilter(name=entry["task"]), limit=LAST_RUNS).items
        rows.append({"key": key, "task": entry["task"], "rule": rule, "next_run": when, "runs": runs,
                     "fires": [{"fire": fire, "state": states.get(fire.task_id)} for fire in fires]})
    return rows


@router.get("/agendamentos", response_class=HTMLResponse)
def schedules(request: Request, session: SessionDep) -> Response:
    return page(request, "painel/agendamentos.html", entries=_entries(session))
