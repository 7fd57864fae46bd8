"""Retention: finished task records, replayed dead letters and beat's fires are deleted once older than their settings.

Only what is settled goes: a task still queued, running or retrying is kept whatever its age, and a
dead letter nobody has replayed yet is kept until someone does (it is the only copy of that message).
Deletes run in batches, each its own short transaction, so a large backlog never holds a long lock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, delete, select, tuple_
from sqlalchemy.orm import Session, sessionmaker

from taskplatform.dead_letters.models import DeadLetter
from taskplatform.ledger.models import TaskEvent, TaskRecord
from taskplatform.ledger.records import FINAL_STATES
from taskplatform.messaging.schedule_runs import purge_schedule_runs

#: Rows per purge transaction (a task record goes with its events, three or more each): small enough that one
#: batch's commit is a short write-ahead log flush for the writers committing beside it.
BATCH = 1000


@dataclass(frozen=True)
class Purged:
    task_records: int
    dead_letters: int
    schedule_runs: int

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
    """Delete finished task records created before `before`, with their events. Returns how many records went.

    Walks the records oldest first by (created_at, id), `batch` keys at a time, each batch its own transaction: a
    batch reads only the key range after the previous one (the dead index entries a delete leaves behind are never
    scanned again, unlike `WHERE created_at < before LIMIT n` repeated), and a small batch keeps each commit's
    write-ahead log small, so a writer committing meanwhile is not held behind a large flush. Records not yet
    finished inside a range are stepped over and kept."""
    total = 0
    after: tuple[datetime, str] | None = None
    final = {str(s) for s in FINAL_STATES}
    while True:
        keys = select(TaskRecord.created_at, TaskRecord.id, TaskRecord.state).where(TaskRecord.created_at < before)
        if after is not None:
            keys = keys.where(tuple_(TaskRecord.created_at, TaskRecord.id) > tuple_(*after))
        with sessions.begin() as session:
            rows = session.execute(keys.order_by(TaskRecord.created_at, TaskRecord.id).limit(batch)).all()
            ids = [row.id for row in rows if row.state in final]
            if ids:
                session.execute(delete(TaskEvent.__table__).where(TaskEvent.task_id.in_(ids)))
                # The state again: a record that moved on since it was read (a re-run's CANCELED...) is kept.
                session.execute(delete(TaskRecord.__table__).where(TaskRecord.id.in_(ids),
                                                                   TaskRecord.state.in_(sorted(final))))
        total += len(ids)
        if len(rows) < batch:
            return total
        after = (rows[-1].created_at, rows[-1].id)


def purge_dead_letters(sessions: sessionmaker[Session], *, replayed_before: datetime, batch: int = BATCH) -> int:
    """Delete dead letters replayed before `replayed_before`. Returns how many went."""

    def drop(session: Session, ids: Sequence[Any]) -> None:
        session.execute(delete(DeadLetter.__table__).where(DeadLetter.id.in_(ids)))

    replayed = select(DeadLetter.id).where(DeadLetter.replayed_at.is_not(None),
                                           DeadLetter.replayed_at < replayed_before)
    return _in_batches(sessions, replayed, drop, batch)


def purge_expired(sessions: sessionmaker[Session], *, now: datetime, task_days: int, dead_letter_days: int,
                  batch: int = BATCH) -> Purged:
    """Apply both retention periods (days; 0 keeps everything of that kind). Beat's fires (`schedule_runs`) are kept
    as long as task records: each names the task it sent."""
    records = purge_task_records(sessions, before=now - timedelta(days=task_days), batch=batch) if task_days else 0
    letters = purge_dead_letters(sessions, replayed_before=now - timedelta(days=dead_letter_days),
                                 batch=batch) if dead_letter_days else 0
    fires = 0
    if task_days:
        with sessions.begin() as session:
            fires = purge_schedule_runs(session=session, before=now - timedelta(days=task_days))
    return Purged(task_records=records, dead_letters=letters, schedule_runs=fires)
