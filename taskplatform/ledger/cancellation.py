"""Durable cancel and re-run: the rules, and the ledger writes that apply them.

A cancel is written to the ledger, never sent to a worker: a QUEUED (or RETRY) task becomes CANCELED in one
conditional UPDATE, and the worker's STARTED write (`record_transition`) leaves a cancelled record untouched and
tells it so, so the body never runs, also when the message is redelivered after a crash or a broker restart. A
running task becomes CANCELING and stops at its next progress point (`TrackedTask.report_progress`), if its
name is in `CANCELLABLE_WHILE_RUNNING`; a task that cannot stop midway is refused with the reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from celery.exceptions import Ignore
from sqlalchemy import insert, null, select, update
from sqlalchemy.orm import Session

from taskplatform.core.db import utcnow
from taskplatform.ledger.models import TaskEvent, TaskRecord
from taskplatform.ledger.records import TaskState
from taskplatform.messaging.task_names import TaskName

#: Tasks that check for a cancel between their stages (progress points, or tokens for text generation).
#: Any other task cannot stop once started: a check-in batch is one statement, a prediction a few ms.
CANCELLABLE_WHILE_RUNNING = frozenset({TaskName.REPORTS_DAILY.value, TaskName.CHURN_RETRAIN.value,
                                       TaskName.HOUSING_TRAIN.value, TaskName.TEXTGEN_GENERATE.value})
#: Largest JSON of a task's arguments kept for re-runs; a larger one is not kept (its re-run is refused).
MAX_ARGUMENTS_BYTES = 64 * 1024
#: States a task can be re-run from.
RERUNNABLE = frozenset({TaskState.FAILURE, TaskState.CANCELED})
_WAITING = (TaskState.QUEUED, TaskState.RETRY)
_RUNNING = (TaskState.STARTED, TaskState.PROGRESS)


class TaskCanceled(Ignore):  # type: ignore[misc]
    """Raised in a worker to stop a cancelled task. An `Ignore`: Celery runs no failure or retry handler and
    acknowledges the message, so it is gone; the ledger already says CANCELED."""


class NotFound(LookupError):
    """No task with this id."""


class Refused(Exception):
    """The operation does not apply to this task now; the message says why (a 409)."""


@dataclass(frozen=True)
class CancelPlan:
    """What a cancel does to a task in a given state: the state it moves to, or why it cannot."""

    to: TaskState | None
    reason: str | None = None


def cancel_plan(state: str, name: str) -> CancelPlan:
    """The pure rule: waiting tasks are cancelled at once, running ones if they can stop midway, final ones never."""
    if state in _WAITING:
        return CancelPlan(TaskState.CANCELED)
    if state == TaskState.CANCELING:
        return CancelPlan(TaskState.CANCELING)  # asked already: the same answer
    if state in _RUNNING:
        if name in CANCELLABLE_WHILE_RUNNING:
            return CancelPlan(TaskState.CANCELING)
        return CancelPlan(None, f"task {name} is running and cannot stop midway (it has no progress points); "
                                "let it finish")
    return CancelPlan(None, f"task is {state}: a finished task cannot be cancelled")


def rerun_refusal(state: str, arguments: dict[str, Any] | None) -> str | None:
    """The pure rule of re-runs: why this task cannot be re-run, or None."""
    if state not in RERUNNABLE:
        return f"task is {state}: only a FAILURE or CANCELED task can be re-run"
    if arguments is None:
        return "the task's arguments were not kept (too large to keep, or enqueued before they were)"
    return None


def arguments_to_keep(args: list[Any], kwargs: dict[str, Any]) -> dict[str, Any] | None:
    """The arguments as stored for re-runs, or None above `MAX_ARGUMENTS_BYTES` of JSON."""
    kept = {"args": list(args), "kwargs": dict(kwargs)}
    size = len(json.dumps(kept, separators=(",", ":"), default=str).encode())
    return kept if size <= MAX_ARGUMENTS_BYTES else None


def _event(session: Session, task_id: str, state: TaskState, detail: dict[str, Any]) -> None:
    session.execute(insert(TaskEvent.__table__).values(task_id=task_id, state=state, at=utcnow(), detail=detail))


def cancel_task(*, session: Session, task_id: str, by: str) -> TaskState:
    """Cancel a task: CANCELED if it had not started, CANCELING if it is running and can stop. Commits.

    Each move is a conditional UPDATE on the state it was planned from: if a worker moved the task in between,
    the plan is made again from the new state. Raises `NotFound` or `Refused`."""
    table = TaskRecord.__table__
    for _ in range(5):  # a worker moves a task at most a few times between two reads
        row = session.execute(select(table.c.state, table.c.name).where(table.c.id == task_id)).first()
        if row is None:
            raise NotFound(task_id)
        plan = cancel_plan(row.state, row.name)
        if plan.to is None:
            raise Refused(plan.reason)
        if plan.to == row.state:
            return plan.to
        now = utcnow()
        values: dict[str, Any] = {"state": plan.to, "updated_at": now, "canceled_at": now, "canceled_by": by}
        if plan.to == TaskState.CANCELED:
            values.update(finished_at=now, message=null())  # nothing to publish again (Redis's copy)
        moved = session.execute(update(table).where(table.c.id == task_id, table.c.state == row.state)
                                .values(**values).returning(table.c.id)).first()
        if moved is not None:
            _event(session, task_id, plan.to, {"by": by, "reason": f"canceled while {row.state}"})
            session.commit()
            return plan.to
        session.rollback()
    raise Refused("the task kept changing state; try again")


def finish_canceled(*, session: Session, task_id: str, reason: str) -> bool:
    """A worker stopped a CANCELING task (or did not start it): CANCELED. False if it was not CANCELING."""
    table = TaskRecord.__table__
    now = utcnow()
    moved = session.execute(update(table).where(table.c.id == task_id, table.c.state == TaskState.CANCELING)
                            .values(state=TaskState.CANCELED, updated_at=now, finished_at=now)
                            .returning(table.c.canceled_by)).first()
    if moved is None:
        return False
    _event(session, task_id, TaskState.CANCELED, {"by": moved.canceled_by, "reason": reason})
    return True


def is_canceling(*, session: Session, task_id: str) -> bool:
    """One indexed read: has this task been asked to stop?"""
    state = session.scalar(select(TaskRecord.__table__.c.state).where(TaskRecord.__table__.c.id == task_id))
    return state in (TaskState.CANCELING, TaskState.CANCELED)


@dataclass(frozen=True)
class Rerun:
    name: str
    args: list[Any]
    kwargs: dict[str, Any]
    params: dict[str, Any] | None


def rerun_source(*, session: Session, task_id: str) -> Rerun:
    """What to enqueue to re-run a task. Raises `NotFound` or `Refused`."""
    table = TaskRecord.__table__
    row = session.execute(select(table.c.name, table.c.state, table.c.params, table.c.arguments)
                          .where(table.c.id == task_id)).first()
    if row is None:
        raise NotFound(task_id)
    refusal = rerun_refusal(row.state, row.arguments)
    if refusal is not None:
        raise Refused(refusal)
    return Rerun(row.name, list(row.arguments.get("args") or []), dict(row.arguments.get("kwargs") or {}),
                 row.params)

