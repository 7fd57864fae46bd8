"""The task ledger: keyword-only functions over `task_records` and `task_events`."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any, cast

import psycopg
from sqlalchemy import case, func, insert, null, select
from sqlalchemy.orm import Session

from taskplatform.core.db import dialect_insert, utcnow
from taskplatform.ledger.driver_path import create_queued
from taskplatform.ledger.idempotency import IdempotencyKeyReused, ScopedKey
from taskplatform.ledger.models import TaskEvent, TaskRecord


class TaskState(StrEnum):
    """States a task goes through; `QUEUED` is written by the producer before publishing."""

    QUEUED = "QUEUED"
    STARTED = "STARTED"
    PROGRESS = "PROGRESS"
    RETRY = "RETRY"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    REVOKED = "REVOKED"
    #: Asked to stop while running: it stops at its next progress point (taskplatform/ledger/cancellation.py).
    CANCELING = "CANCELING"
    CANCELED = "CANCELED"


FINAL_STATES = frozenset({TaskState.SUCCESS, TaskState.FAILURE, TaskState.REVOKED, TaskState.CANCELED})
#: States that a worker's STARTED, PROGRESS or RETRY never overwrite: the task was cancelled, or is being cancelled.
CANCEL_STATES = frozenset({TaskState.CANCELING, TaskState.CANCELED})


def create_task_record(*, session: Session, task_id: str, name: str, queue: str | None,
                       params: dict[str, Any] | None = None, idempotency: ScopedKey | None = None,
                       message: dict[str, Any] | None = None, arguments: dict[str, Any] | None = None,
                       rerun_of: str | None = None) -> bool:
    """Insert a `QUEUED` record; False when the idempotency key was already used for this task name
    by the same scope. `message` (args and kwargs) is kept until a worker starts the task, for redelivery;
    `arguments` (the same shape) is kept with the record, for re-runs."""
    now = utcnow()
    if session.get_bind().dialect.name == "postgresql":
        # In the session's own transaction, through the driver (taskplatform/ledger/driver_path.py). Its commit
        # does not wait for the disk: on a database crash the newest QUEUED records may vanish, and each comes back
        # with its task's first write from a worker (README, "What the ledger guarantees").
        driver = cast("psycopg.Connection[Any]", session.connection().connection.driver_connection)
        return create_queued(driver, values={
            "id": task_id, "name": name, "queue": queue, "params": params, "now": now, "message": message,
            "idempotency_key": idempotency.key if idempotency else None,
            "idempotency_scope": idempotency.scope if idempotency else None,
            "request_hash": idempotency.request_hash if idempotency else None,
            "arguments": arguments, "rerun_of": rerun_of})
    stmt = dialect_insert(session, TaskRecord.__table__).values(
        id=task_id, name=name, queue=queue, state=TaskState.QUEUED, params=params, attempts=0,
        idempotency_key=idempotency.key if idempotency else None,
        idempotency_scope=idempotency.scope if idempotency else None,
        request_hash=idempotency.request_hash if idempotency else None,
        created_at=now, updated_at=now,
        message=message if message is not None else null(),  # SQL NULL, not JSON null
        arguments=arguments if arguments is not None else null(), rerun_of=rerun_of,
    ).on_conflict_do_nothing().returning(TaskRecord.__table__.c.id)
    # RETURNING, not rowcount: psycopg reports -1 for an INSERT that ON CONFLICT DO NOTHING skipped.
    if session.execute(stmt).first() is None:
        return False
    session.execute(insert(TaskEvent.__table__).values(task_id=task_id, state=TaskState.QUEUED, at=now))
    return True


def find_by_idempotency_key(*, session: Session, name: str, idempotency: ScopedKey) -> TaskRecord | None:
    """The task this key was first used for, by this scope; raises `IdempotencyKeyReused` if that
    request had another hash (records from before hashes were kept match any request)."""
    found = session.scalars(select(TaskRecord).where(TaskRecord.name == name,
                                                     TaskRecord.idempotency_scope == idempotency.scope,
                                                     TaskRecord.idempotency_key == idempotency.key)).first()
    if found is not None and found.request_hash is not None and found.request_hash != idempotency.request_hash:
        raise IdempotencyKeyReused(idempotency.key)
    return found


def delete_task_record(*, session: Session, task_id: str) -> None:
    """Remove a record whose message could not be published (the request was refused)."""
    session.execute(TaskEvent.__table__.delete().where(TaskEvent.task_id == task_id))
    session.execute(TaskRecord.__table__.delete().where(TaskRecord.id == task_id))


def record_transition(*, session: Session, task_id: str, name: str, queue: str | None, state: TaskState,
                      detail: dict[str, Any] | None = None, **fields: Any) -> str:
    """Write a state change: one upsert of the record (created if a producer outside the
    API, such as beat, sent the task) and one appended event. Returns the record's state afterwards.

    A record in a final state is never moved back by a state that is not final: Celery publishes a
    retry before `on_retry` writes its RETRY, so with a short countdown the next attempt can finish
    first, and a late RETRY (or PROGRESS, or STARTED of a redelivery) must not hide its SUCCESS. A
    redelivery's STARTED still counts as an attempt. The event is appended all the same: the history
    shows what happened, in the order it was written.

    A cancelled record (CANCELED, or CANCELING for a state that is not final) is left untouched and
    gets no event: the state returned tells the worker to stop (in the same statement as the write, so
    a cancel and a worker starting the task cannot both win). CANCELED itself is never overwritten.

    A SUCCESS is never overwritten either, nor followed by another final event: a message whose ack was lost (its
    broker node killed, its worker's host cut off) is delivered again and its task runs again, finding its effect
    already there (`inserted: 0`), and a cut-off worker's own result arrives late. Either would replace the result
    of the run that made the effect (tests/hosts/, faults rabbitmq-node-killed and worker-link-cut). The late
    attempt's STARTED is still recorded and counted."""
    now = utcnow()
    table = TaskRecord.__table__
    values: dict[str, Any] = {"state": state, "updated_at": now, **fields}
    stmt = dialect_insert(session, table).values(
        id=task_id, name=name, queue=queue, created_at=now, attempts=1 if state == TaskState.STARTED else 0,
        **values,
    )
    held = table.c.state.in_(sorted(CANCEL_STATES if state not in FINAL_STATES
                                    else {TaskState.CANCELED, TaskState.SUCCESS}))
    # Each column keeps its value on a record this state must not move: a finished (or cancelled) one for a state
    # that is not final, a CANCELED one for a final state. `excluded` is the proposed row, typed as its columns.
    keep = held if state in FINAL_STATES else table.c.state.in_(sorted(FINAL_STATES | CANCEL_STATES))
    update = {column: case((keep, table.c[column]), else_=stmt.excluded[column]) for column in values}
    if state == TaskState.STARTED:
        # Counts deliveries, so a redelivery after a worker crash shows as a second attempt.
        update["attempts"] = case((held, table.c.attempts), else_=table.c.attempts + 1)
        # A worker has it: the broker redelivers it from here on.
        update["message"] = case((held, table.c.message), else_=null())
    upsert = stmt.on_conflict_do_update(index_elements=[table.c.id], set_=update).returning(table.c.state,
                                                                                            table.c.updated_at)
    after, updated_at = session.execute(upsert).one()
    if after in CANCEL_STATES and after != state:
        return str(after)
    if state in FINAL_STATES and updated_at != now:
        return str(after)  # a final state that was held (SUCCESS or CANCELED before it): nothing is written
    session.execute(insert(TaskEvent.__table__).values(task_id=task_id, state=state, at=now, detail=detail))
    return str(after)


def get_task_record(*, session: Session, task_id: str) -> TaskRecord | None:
    return session.get(TaskRecord, task_id)


def reruns_of(*, session: Session, task_id: str) -> list[str]:
    """Ids of the tasks re-running this one, oldest first."""
    return list(session.scalars(select(TaskRecord.id).where(TaskRecord.rerun_of == task_id)
                                .order_by(TaskRecord.created_at, TaskRecord.id)))


def task_events(*, session: Session, task_id: str) -> list[TaskEvent]:
    return list(session.scalars(select(TaskEvent).where(TaskEvent.task_id == task_id).order_by(TaskEvent.id)))


def count_by_state_since(*, session: Session, since: datetime) -> dict[str, int]:
    """How many tasks created at or after `since` are in each state now."""
    rows = session.execute(select(TaskRecord.state, func.count()).where(TaskRecord.created_at >= since)
                           .group_by(TaskRecord.state))
    return {str(state): int(count) for state, count in rows.tuples()}


def count_by_name_and_state(*, session: Session, states: Iterable[str] | None = None) -> list[tuple[str, str, int]]:
    """(name, state, count) of the records in `states` (every state when None)."""
    query = select(TaskRecord.name, TaskRecord.state, func.count())
    if states is not None:
        query = query.where(TaskRecord.state.in_(list(states)))
    rows = session.execute(query.group_by(TaskRecord.name, TaskRecord.state))
    return [(n, s, c) for n, s, c in rows]
