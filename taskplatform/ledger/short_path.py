"""The ledger's short path: a task that finishes within milliseconds costs one read and one write.

A task with `ledger_started = False` (`TrackedTask`) writes no STARTED of its own. Before its body runs the worker
only reads the record's state (`state_of`: a cancelled task must not run); when it returns, `finish_short` writes
SUCCESS and appends both events, STARTED (at the time the task started, so the history is the same as on the long
path) and SUCCESS, in one transaction, committed before the worker acknowledges the message. A crash anywhere
before that commit leaves the message unacknowledged: it is redelivered, the task runs again (every task is
idempotent), and the same write lands then. The record goes from QUEUED straight to SUCCESS.

A message delivered again after its SUCCESS was committed (its acknowledgement lost with a broker node, or its
worker's host cut off while another host ran it) runs again and writes nothing: the first run's result and history
stand, as on the long path (`records.record_transition`).

A cancel that reaches such a task after its read and before its write finds the record QUEUED and makes it
CANCELED, though the body is already running: the SUCCESS that follows replaces it (`canceled_at` is kept), since
the effect happened. A cancel made before the task started keeps the record CANCELED, and no event is appended.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Insert, TextClause, bindparam, insert, text
from sqlalchemy.orm import Session

from taskplatform.core.db import JSONType, UTCDateTime, utcnow
from taskplatform.ledger.models import TaskEvent
from taskplatform.ledger.one_statement import FINISH_RECORD, finish_statement
from taskplatform.ledger.records import TaskState

_STATE = text("SELECT state FROM task_records WHERE id = :id")

@cache
def _finish_statement() -> TextClause:
    return text(FINISH_RECORD).bindparams(bindparam("result", type_=JSONType), bindparam("now", type_=UTCDateTime()),
                                    bindparam("started_at", type_=UTCDateTime()))


@cache
def _events_statement() -> Insert:
    return insert(TaskEvent.__table__)


def state_of(*, session: Session, task_id: str) -> str | None:
    """The record's state, None if there is no record yet (a task sent by beat, say)."""
    state: str | None = session.execute(_STATE, {"id": task_id}).scalar_one_or_none()
    return state


def finish_short(*, session: Session, task_id: str, name: str, queue: str | None, started_at: datetime,
                 runtime_s: float | None, result: Any, started_detail: dict[str, Any] | None) -> str | None:
    """Write a short task's SUCCESS and its STARTED and SUCCESS events. None when written; else the state that held
    the record: CANCELED, or SUCCESS (an earlier run of the same message finished first: its result stands)."""
    now = utcnow()
    if session.get_bind().dialect.name == "postgresql":
        row = session.execute(finish_statement(), {
            "id": task_id, "name": name, "queue": queue, "now": now, "started_at": started_at,
            "runtime_s": runtime_s, "result": result, "started_detail": started_detail}).first()
        return None if row is None or row[1] else str(row[0])
    written = session.execute(_finish_statement(), {
        "id": task_id, "name": name, "queue": queue, "now": now, "started_at": started_at, "runtime_s": runtime_s,
        "result": result}).first()
    if written is None:
        return state_of(session=session, task_id=task_id)
    session.execute(_events_statement(), [
        {"task_id": task_id, "state": TaskState.STARTED.value, "at": started_at, "detail": started_detail},
        {"task_id": task_id, "state": TaskState.SUCCESS.value, "at": now, "detail": None}])
    return None
