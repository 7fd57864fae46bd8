"""Transitions as the live streams show them: `task_events` rows joined with their record, and the reads behind
the feed (new rows after a cursor) and behind a stream's replay (one task's rows after a last id)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from taskplatform.ledger.models import TaskEvent, TaskRecord
from taskplatform.ledger.records import FINAL_STATES, TaskState


@dataclass(frozen=True)
class Transition:
    """One `task_events` row with what a listener needs of its record."""

    id: int
    task_id: str
    state: str
    at: datetime
    name: str
    queue: str | None
    progress: int | None
    message: str | None

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES

    def data(self, *, listing: bool = False) -> dict[str, Any]:
        """The SSE `data` object (the contract's field names); a listing's adds the task's name and queue."""
        data: dict[str, Any] = {"task_id": self.task_id, "state": self.state, "progress": self.progress,
                                "message": self.message, "at": self.at.isoformat()}
        if listing:
            data.update(name=self.name, queue=self.queue)
        return data


_COLUMNS = (TaskEvent.id, TaskEvent.task_id, TaskEvent.state, TaskEvent.at, TaskEvent.detail, TaskRecord.name,
            TaskRecord.queue, TaskRecord.error_message)


def _select() -> Select[Any]:
    return select(*_COLUMNS).join(TaskRecord, TaskRecord.id == TaskEvent.task_id)


def _transition(row: Any) -> Transition:
    """What the event itself says, so a replayed transition shows what it showed live: a PROGRESS its percent and
    stage, a SUCCESS 100 %, a RETRY its error, a cancel its reason; a FAILURE (which stores no detail) the record's
    error, which a finished record keeps."""
    detail = row.detail if isinstance(row.detail, dict) else {}
    percent = detail.get("percent")
    progress = percent if isinstance(percent, int) else (100 if row.state == TaskState.SUCCESS else None)
    message = detail.get("message") or detail.get("error") or detail.get("reason")
    if message is None and row.state == TaskState.FAILURE:
        message = row.error_message
    return Transition(id=row.id, task_id=row.task_id, state=row.state, at=row.at, name=row.name, queue=row.queue,
                      progress=progress, message=None if message is None else str(message))


def read_after(*, session: Session, after: int, limit: int) -> list[Transition]:
    """Every transition with an id above `after`, in id order, at most `limit` (the feed's one query per tick)."""
    rows = session.execute(_select().where(TaskEvent.id > after).order_by(TaskEvent.id).limit(limit))
    return [_transition(row) for row in rows]


def read_ids(*, session: Session, ids: list[int]) -> list[Transition]:
    """The transitions among `ids` that exist now (ids the feed saw skipped, rechecked until they commit)."""
    if not ids:
        return []
    rows = session.execute(_select().where(TaskEvent.id.in_(ids)).order_by(TaskEvent.id))
    return [_transition(row) for row in rows]


def newest_ids(*, session: Session, window: int) -> list[tuple[int, str]]:
    """(id, task id) of the rows among the newest `window` ids, in order: where the feed starts (the newest id, and
    the holes just below it, which may be transactions still to commit)."""
    top = session.scalar(select(TaskEvent.id).order_by(TaskEvent.id.desc()).limit(1))
    if top is None:
        return []
    rows = session.execute(select(TaskEvent.id, TaskEvent.task_id).where(TaskEvent.id > top - window)
                           .order_by(TaskEvent.id))
    return [(int(id_), str(task_id)) for id_, task_id in rows]


def task_history(*, session: Session, task_id: str, after: int | None = None) -> list[Transition]:
    """One task's transitions with an id above `after` (all of them without), in order."""
    query = _select().where(TaskEvent.task_id == task_id)
    if after is not None:
        query = query.where(TaskEvent.id > after)
    return [_transition(row) for row in session.execute(query.order_by(TaskEvent.id))]


def history_after(*, session: Session, after: int, state: str | None, name: str | None, queue: str | None,
                  limit: int) -> list[Transition]:
    """The transitions after `after` matching a listing's filters (a list stream resumed with its last id)."""
    query = _select().where(TaskEvent.id > after)
    for column, value in ((TaskEvent.state, state), (TaskRecord.name, name), (TaskRecord.queue, queue)):
        if value:
            query = query.where(column == value)
    return [_transition(row) for row in session.execute(query.order_by(TaskEvent.id).limit(limit))]
