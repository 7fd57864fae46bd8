"""Housekeeping tasks: the nightly retention purge of the ledger and the dead-letter store."""

from __future__ import annotations

from typing import Any

from taskplatform.celery_app import app
from taskplatform.db import get_engine, utcnow
from taskplatform.retention import purge_expired
from taskplatform.settings import get_settings


@app.task(name="maintenance.purge_expired", bind=True)
def purge(self: Any) -> dict[str, int]:
    """Delete finished task records older than TASK_RETENTION_DAYS and dead letters replayed more than
    DEAD_LETTER_RETENTION_DAYS ago. Idempotent: a second run finds nothing more to delete."""
    settings = get_settings()
    return purge_expired(get_engine(), now=utcnow(), task_days=settings.task_retention_days,
                         dead_letter_days=settings.dead_letter_retention_days).as_dict()
