"""Members: tasks recorded one by one but published together, as one carrier message (group commit).

A producer that receives many small requests at once (`POST /devices/health` from a fleet) records each as a task
of its own, QUEUED, in one multi-row insert and one commit (`create_members`), then publishes ONE carrier message
naming them all. The carrier has no record (`tracked = False`): in its transaction, together with its effect, it
finishes the members (`finish_members`), which skips a member cancelled meanwhile and says so, so its effect is
not applied; a member whose effect is refused for good is failed (`fail_members`). Each member keeps its single
message on the Redis broker (`message`), so if the carrier is lost the redelivery sweep
(taskplatform/ledger/redelivery.py) publishes the member again on its own.

On PostgreSQL each write is one statement through the driver (prepared: the member list is one JSON parameter,
so the SQL is the same for any count), as in taskplatform/ledger/driver_path.py; on SQLite, Core statements.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import psycopg
from psycopg.types.json import Jsonb
from sqlalchemy import insert, null, select, update
from sqlalchemy.orm import Session

from taskplatform.ledger.models import TaskEvent, TaskRecord
from taskplatform.ledger.records import CANCEL_STATES, TaskState

_HELD = sorted(CANCEL_STATES | {TaskState.SUCCESS})


@dataclass(frozen=True)
class NewMember:
    """One member's record: its id, its params (for listings) and, on Redis, its own message."""

    task_id: str
    params: dict[str, Any] | None = None
    message: dict[str, Any] | None = None


_CREATE = """
WITH input AS (
    SELECT m->>'id' AS id, m->'params' AS params, m->'message' AS message FROM jsonb_array_elements(%(members)s) m
), record AS (
    INSERT INTO task_records (id, name, queue, state, params, attempts, created_at, updated_at, message)
    SELECT id, %(name)s, %(queue)s, 'QUEUED', params, 0, %(now)s, %(now)s, message FROM input
    ON CONFLICT DO NOTHING
    RETURNING id
)
INSERT INTO task_events (task_id, state, at) SELECT id, 'QUEUED', %(now)s FROM record
"""

# Locks the live members (a cancel waits, then finds them SUCCESS); cancelled ones are left as they are. A member
# whose QUEUED record a database crash lost (its commit did not wait for the disk) is written now, as a single task's.
_FINISH = """
WITH done AS (
    INSERT INTO task_records (id, name, queue, state, attempts, created_at, updated_at, started_at, finished_at,
                              runtime_s, progress, result)
    SELECT m->>'id', %(name)s, %(queue)s, 'SUCCESS', 1, %(now)s, %(now)s, %(started_at)s, %(now)s, %(runtime_s)s,
           100, m->'result'
    FROM jsonb_array_elements(%(members)s) m
    ON CONFLICT (id) DO UPDATE SET
        state = 'SUCCESS', attempts = task_records.attempts + 1, updated_at = excluded.updated_at,
        started_at = excluded.started_at, finished_at = excluded.finished_at, runtime_s = excluded.runtime_s,
        progress = 100, result = excluded.result, error_type = NULL, error_message = NULL, traceback = NULL,
        message = NULL
    WHERE task_records.state NOT IN ('CANCELED', 'CANCELING', 'SUCCESS')
    RETURNING id
), events AS (
    INSERT INTO task_events (task_id, state, at, detail)
    SELECT id, 'STARTED', %(started_at)s, %(detail)s FROM done
    UNION ALL SELECT id, 'SUCCESS', %(now)s, NULL FROM done
)
SELECT id FROM done
"""


def _driver(session: Session) -> psycopg.Connection[Any] | None:
    if session.get_bind().dialect.name != "postgresql":
        return None
    return cast("psycopg.Connection[Any]", session.connection().connection.driver_connection)


def create_members(*, session: Session, name: str, queue: str | None, members: list[NewMember],
                   now: datetime) -> None:
    """Insert the members' QUEUED records and events in the session's transaction (the caller commits).

    Its commit does not wait for the disk on PostgreSQL, as for a single task (`records.create_task_record`)."""
    driver = _driver(session)
    if driver is not None:
        driver.execute("SET LOCAL synchronous_commit = off")
        driver.execute(_CREATE, {"name": name, "queue": queue, "now": now, "members": Jsonb([
            # a key left out reads as SQL NULL (`m->'message'`); a JSON null would read back as a value
            {"id": m.task_id, **({"params": m.params} if m.params is not None else {}),
             **({"message": m.message} if m.message is not None else {})} for m in members])})
        return
    session.execute(insert(TaskRecord.__table__), [
        {"id": m.task_id, "name": name, "queue": queue, "state": TaskState.QUEUED, "attempts": 0,
         "params": m.params if m.params is not None else null(),
         "message": m.message if m.message is not None else null(), "created_at": now, "updated_at": now}
        for m in members])
    session.execute(insert(TaskEvent.__table__), [{"task_id": m.task_id, "state": TaskState.QUEUED, "at": now}
                                                  for m in members])


def delete_members(*, session: Session, task_ids: list[str]) -> None:
    """Remove members whose carrier could not be published (their requests were refused)."""
    session.execute(TaskEvent.__table__.delete().where(TaskEvent.task_id.in_(task_ids)))
    session.execute(TaskRecord.__table__.delete().where(TaskRecord.id.in_(task_ids)))


def finish_members(*, session: Session, name: str, queue: str | None, results: dict[str, Any], started_at: datetime,
                   now: datetime, runtime_s: float | None, detail: dict[str, Any] | None) -> set[str]:
    """Move every member of `results` (id to result) that is not cancelled to SUCCESS (attempts + 1, STARTED and
    SUCCESS events), in the caller's transaction. Returns the ids finished: the others were cancelled, or already
    SUCCESS (a carrier delivered again: their effect committed with that SUCCESS), and their effect must not be
    applied. Call it before applying the effect: the rows it updates stay locked until commit,
    so a cancel cannot slip in between."""
    if not results:
        return set()
    driver = _driver(session)
    if driver is not None:
        rows = driver.execute(_FINISH, {
            "members": Jsonb([{"id": k, "result": v} for k, v in results.items()]), "now": now, "name": name,
            "queue": queue, "started_at": started_at, "runtime_s": runtime_s, "detail": Jsonb(detail or {})})
        return {str(row[0]) for row in rows.fetchall()}
    table = TaskRecord.__table__
    found = session.execute(select(table.c.id, table.c.state).where(table.c.id.in_(list(results))))
    known = {str(task_id): str(state) for task_id, state in found}
    live = {task_id for task_id in results if known.get(task_id) not in _HELD}
    lost = [task_id for task_id in live if task_id not in known]
    if lost:
        session.execute(insert(table), [{"id": task_id, "name": name, "queue": queue, "state": TaskState.QUEUED,
                                         "attempts": 0, "created_at": now, "updated_at": now} for task_id in lost])
    for task_id in live:
        session.execute(update(table).where(table.c.id == task_id, table.c.state.not_in(_HELD)).values(
            state=TaskState.SUCCESS, attempts=table.c.attempts + 1, updated_at=now, started_at=started_at,
            finished_at=now, runtime_s=runtime_s, progress=100, result=results[task_id], error_type=None,
            error_message=None, traceback=None, message=null()))
    if live:
        session.execute(insert(TaskEvent.__table__), [
            row for task_id in live for row in (
                {"task_id": task_id, "state": TaskState.STARTED, "at": started_at,
                 "detail": detail if detail is not None else null()},
                {"task_id": task_id, "state": TaskState.SUCCESS, "at": now, "detail": null()})])
    return live


def fail_members(*, session: Session, errors: dict[str, tuple[str, str]], started_at: datetime, now: datetime,
                 detail: dict[str, Any] | None) -> set[str]:
    """Move the members of `errors` (id to error type and message) that are not cancelled (nor already SUCCESS) to
    FAILURE, with STARTED and FAILURE events: their effect was refused for good. Returns the ids failed."""
    table = TaskRecord.__table__
    failed: set[str] = set()
    for task_id, (error_type, message) in errors.items():
        row = session.execute(update(table).where(table.c.id == task_id, table.c.state.not_in(_HELD)).values(
            state=TaskState.FAILURE, attempts=table.c.attempts + 1, updated_at=now, started_at=started_at,
            finished_at=now, error_type=error_type, error_message=message, message=null())
            .returning(table.c.id)).first()
        if row is None:
            continue
        failed.add(task_id)
        session.execute(insert(TaskEvent.__table__), [
            {"task_id": task_id, "state": TaskState.STARTED, "at": started_at,
             "detail": detail if detail is not None else null()},
            {"task_id": task_id, "state": TaskState.FAILURE, "at": now,
             "detail": {"error": f"{error_type}: {message}"}}])
    return failed
