"""Retention: finished task records and replayed dead letters are deleted once older than their settings.

Only what is settled goes: a task still queued, running or retrying is kept whatever its age, and a
dead letter nobody has replayed yet is kept until someone does (it is the only copy of that message).
Deletes run in batches, each its own short transaction, so a large backlog never holds a long lock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, delete, select
from sqlalchemy.orm import Session, sessionmaker

from taskplatform.dead_letters.models import DeadLetter
from taskplatform.ledger.models import TaskEvent, TaskRecord
from taskplatform.ledger.records import FINAL_STATES

BATCH = 5000


@dataclass(frozen=True)
class Purged:
    task_records: int
    dead_letters: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def _in_batches(sessions: sessionmaker[Session], ids: Select[Any],
                drop: Callable[[Session, Sequence[Any]], None], batch: int) -> int:
    """Select up to `batch` ids and `drop` them, one transaction per batch, until none are left."""
    total = 0
    while True:
        with sessions.begin() as session:
            found = session.scalars(ids.limit(batch)).all()
            if found:
                drop(session, found)
        total += len(found)
        if len(found) < batch:
            return total


def purge_task_records(sessions: sessionmaker[Session], *, before: datetime, batch: int = BATCH) -> int:
    """Delete finished task records created before `before`, with their events. Returns how many records went."""

    def drop(session: Session, ids: Sequence[Any]) -> None:
        session.execute(delete(TaskEvent.__table__).where(TaskEvent.task_id.in_(ids)))
        session.execute(delete(TaskRecord.__table__).where(TaskRecord.id.in_(ids)))

    finished = select(TaskRecord.id).where(TaskRecord.state.in_([str(s) for s in FINAL_STATES]),
                                           TaskRecord.created_at < before)
    return _in_batches(sessions, finished, drop, batch)


def purge_dead_letters(sessions: sessionmaker[Session], *, replayed_before: datetime, batch: int = BATCH) -> int:
    """Delete dead letters replayed before `replayed_before`. Returns how many went."""

    def drop(session: Session, ids: Sequence[Any]) -> None:
        session.execute(delete(DeadLetter.__table__).where(DeadLetter.id.in_(ids)))

    replayed = select(DeadLetter.id).where(DeadLetter.replayed_at.is_not(None),
                                           DeadLetter.replayed_at < replayed_before)
    return _in_batches(sessions, replayed, drop, batch)


def purge_expired(sessions: sessionmaker[Session], *, now: datetime, task_days: int, dead_letter_days: int,
                  batch: int = BATCH) -> Purged:
    """Apply both retention periods (days; 0 keeps everything of that kind)."""
    records = purge_task_records(sessions, before=now - timedelta(days=task_days), batch=batch) if task_days else 0
    letters = purge_dead_letters(sessions, replayed_before=now - timedelta(days=dead_letter_days),
                                 batch=batch) if dead_letter_days else 0
    return Purged(task_records=records, dead_letters=letters)
