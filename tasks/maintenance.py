"""Housekeeping tasks: the nightly retention purge, and publishing again messages the Redis broker lost."""

from __future__ import annotations

from typing import Any

from taskplatform.core.db import session_factory, utcnow
from taskplatform.core.settings import get_settings
from taskplatform.ledger.redelivery import redeliver_lost
from taskplatform.ledger.retention import purge_expired
from taskplatform.messaging.celery_app import app
from taskplatform.messaging.task_names import TaskName


@app.task(name=TaskName.MAINTENANCE_PURGE_EXPIRED.value, bind=True)
def purge(self: Any) -> dict[str, int]:
    """Delete finished task records older than TASK_RETENTION_DAYS and dead letters replayed more than
    DEAD_LETTER_RETENTION_DAYS ago. Idempotent: a second run finds nothing more to delete."""
    settings = get_settings()
    return purge_expired(session_factory(), now=utcnow(), task_days=settings.task_retention_days,
                         dead_letter_days=settings.dead_letter_retention_days).as_dict()


def _publish(name: str, args: list[Any], kwargs: dict[str, Any], task_id: str, queue: str | None) -> None:
    app.send_task(name, args=args, kwargs=kwargs, task_id=task_id, queue=queue)


@app.task(name=TaskName.MAINTENANCE_REDELIVER_LOST.value, bind=True)
def redeliver(self: Any) -> dict[str, Any]:
    """Publish again, once, the tasks still QUEUED TASK_REDELIVER_AFTER seconds after they were enqueued (Redis
    only; see taskplatform/ledger/redelivery.py). Safe to run at any time and on several workers: tasks are
    idempotent."""
    settings = get_settings()
    if settings.broker_kind != "redis":
        return {"redelivered": [], "reason": "only the Redis broker can lose a delivered message"}
    ids = redeliver_lost(session_factory(), _publish, now=utcnow(), after_s=settings.task_redeliver_after)
    return {"redelivered": ids}
