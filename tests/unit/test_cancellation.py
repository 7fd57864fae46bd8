"""Durable cancel and re-run: which transitions are allowed, and how the ledger applies them (SQLite)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from taskplatform.ledger.cancellation import (
    MAX_ARGUMENTS_BYTES,
    NotFound,
    Refused,
    arguments_to_keep,
    cancel_plan,
    cancel_task,
    finish_canceled,
    rerun_refusal,
    rerun_source,
)
from taskplatform.ledger.records import (
    FINAL_STATES,
    TaskState,
    create_task_record,
    get_task_record,
    record_transition,
    reruns_of,
    task_events,
)

CHURN = "churn.retrain"
INGEST = "checkins.ingest_batch"


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session


def _queued(session: Session, task_id: str, name: str = CHURN, arguments: dict | None = None,
            rerun_of: str | None = None) -> None:
    create_task_record(session=session, task_id=task_id, name=name, queue="training",
                       arguments=arguments, rerun_of=rerun_of)
    session.commit()


def _move(session: Session, task_id: str, state: TaskState, name: str = CHURN) -> str:
    after = record_transition(session=session, task_id=task_id, name=name, queue="training", state=state)
    session.commit()
    return after


def _events(session: Session, task_id: str) -> list[str]:
    return [e.state for e in task_events(session=session, task_id=task_id)]


@pytest.mark.parametrize("state", [TaskState.QUEUED, TaskState.RETRY])
def test_a_waiting_task_is_canceled_at_once(state: TaskState) -> None:
    assert cancel_plan(state, INGEST).to == TaskState.CANCELED


@pytest.mark.parametrize("state", [TaskState.STARTED, TaskState.PROGRESS, TaskState.CANCELING])
def test_a_running_task_with_progress_points_goes_canceling(state: TaskState) -> None:
    assert cancel_plan(state, CHURN).to == TaskState.CANCELING


def test_a_running_task_without_progress_points_is_refused_with_the_reason() -> None:
    plan = cancel_plan(TaskState.STARTED, INGEST)
    assert plan.to is None and plan.reason is not None and "cannot stop midway" in plan.reason


@pytest.mark.parametrize("state", sorted(FINAL_STATES))
def test_a_final_task_cannot_be_canceled(state: TaskState) -> None:
    assert TaskState.CANCELED in FINAL_STATES
    plan = cancel_plan(state, CHURN)
    assert plan.to is None and plan.reason is not None and state in plan.reason


@pytest.mark.parametrize("state", list(TaskState))
def test_only_failed_or_canceled_tasks_with_arguments_are_rerun(state: TaskState) -> None:
    allowed = state in (TaskState.FAILURE, TaskState.CANCELED)
    assert (rerun_refusal(state, {"args": [], "kwargs": {}}) is None) == allowed
    assert rerun_refusal(state, None) is not None


def test_arguments_are_kept_up_to_the_bound() -> None:
    assert arguments_to_keep([1], {"a": "b"}) == {"args": [1], "kwargs": {"a": "b"}}
    assert arguments_to_keep(["x" * MAX_ARGUMENTS_BYTES], {}) is None


def test_cancel_of_a_queued_task_wins_over_a_worker_starting_it(session: Session) -> None:
    _queued(session, "t1")
    assert cancel_task(session=session, task_id="t1", by="key:abc") == TaskState.CANCELED
    # The worker's STARTED (a redelivery too) finds it cancelled: nothing written, and it is told so.
    assert _move(session, "t1", TaskState.STARTED) == TaskState.CANCELED
    record = get_task_record(session=session, task_id="t1")
    assert record is not None
    session.refresh(record)
    assert (record.state, record.attempts, record.canceled_by) == ("CANCELED", 0, "key:abc")
    assert record.canceled_at is not None and record.finished_at is not None
    assert _events(session, "t1") == ["QUEUED", "CANCELED"]
    assert task_events(session=session, task_id="t1")[-1].detail == {"by": "key:abc",
                                                                     "reason": "canceled while QUEUED"}


def test_a_canceled_record_is_never_overwritten(session: Session) -> None:
    _queued(session, "t1")
    cancel_task(session=session, task_id="t1", by="anonymous")
    for state in (TaskState.PROGRESS, TaskState.RETRY, TaskState.SUCCESS, TaskState.FAILURE):
        assert _move(session, "t1", state) == TaskState.CANCELED
    assert _events(session, "t1") == ["QUEUED", "CANCELED"]


def test_a_running_task_goes_canceling_then_canceled_at_its_progress_point(session: Session) -> None:
    _queued(session, "t1")
    _move(session, "t1", TaskState.STARTED)
    assert cancel_task(session=session, task_id="t1", by="anonymous") == TaskState.CANCELING
    assert cancel_task(session=session, task_id="t1", by="anonymous") == TaskState.CANCELING  # asked again
    assert _move(session, "t1", TaskState.PROGRESS) == TaskState.CANCELING  # the progress point sees it
    assert finish_canceled(session=session, task_id="t1", reason="at 10%")
    session.commit()
    assert not finish_canceled(session=session, task_id="t1", reason="again")
    assert _events(session, "t1") == ["QUEUED", "STARTED", "CANCELING", "CANCELED"]
    with pytest.raises(Refused):
        cancel_task(session=session, task_id="t1", by="anonymous")


def test_a_canceling_task_that_finishes_first_keeps_its_success(session: Session) -> None:
    _queued(session, "t1")
    _move(session, "t1", TaskState.STARTED)
    cancel_task(session=session, task_id="t1", by="anonymous")
    assert _move(session, "t1", TaskState.SUCCESS) == TaskState.SUCCESS


def test_a_running_task_without_progress_points_is_not_touched(session: Session) -> None:
    _queued(session, "t1", name=INGEST)
    _move(session, "t1", TaskState.STARTED, name=INGEST)
    with pytest.raises(Refused, match="cannot stop midway"):
        cancel_task(session=session, task_id="t1", by="anonymous")
    with pytest.raises(NotFound):
        cancel_task(session=session, task_id="nope", by="anonymous")
    assert _events(session, "t1") == ["QUEUED", "STARTED"]


def test_rerun_source_and_the_reruns_of_a_task(session: Session) -> None:
    _queued(session, "t1", arguments={"args": [1], "kwargs": {"data": "2026-01-01"}})
    with pytest.raises(Refused, match="only a FAILURE or CANCELED"):
        rerun_source(session=session, task_id="t1")
    _move(session, "t1", TaskState.FAILURE)
    source = rerun_source(session=session, task_id="t1")
    assert (source.name, source.args, source.kwargs) == (CHURN, [1], {"data": "2026-01-01"})
    _queued(session, "t2", rerun_of="t1")
    _queued(session, "t3", rerun_of="t1")
    assert reruns_of(session=session, task_id="t1") == ["t2", "t3"]
    _move(session, "t2", TaskState.FAILURE)
    with pytest.raises(Refused, match="not kept"):
        rerun_source(session=session, task_id="t2")
