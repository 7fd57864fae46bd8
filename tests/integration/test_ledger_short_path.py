"""The ledger's short path on each stack's database (SQLite and PostgreSQL): a short task's one read and one write,
and the same on a real worker."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from taskplatform.core.db import utcnow
from taskplatform.ledger.models import TaskRecord
from taskplatform.ledger.records import TaskState, create_task_record, get_task_record, task_events
from taskplatform.ledger.short_path import finish_short, state_of
from tests.integration.stack import Stack

NAME = "devices.upsert"


def _queued(stack: Stack) -> str:
    task_id = str(uuid.uuid4())
    with Session(stack.engine) as session, session.begin():
        assert create_task_record(session=session, task_id=task_id, name=NAME, queue="devices",
                                  message={"args": [], "kwargs": {}})
    return task_id


def _finish(stack: Stack, task_id: str, started_at: object, result: object = None) -> str | None:
    """None when written, else the state that held the record."""
    with Session(stack.engine) as session, session.begin():
        return finish_short(session=session, task_id=task_id, name=NAME, queue="devices", started_at=started_at,
                            runtime_s=0.002, result=result or {"raspberry_id": "pi-1"}, started_detail={"retries": 0})


def _states(stack: Stack, task_id: str) -> list[str]:
    with Session(stack.engine) as session:
        return [e.state for e in task_events(session=session, task_id=task_id)]


def test_a_short_task_goes_from_queued_to_success_with_its_started_event(stack: Stack) -> None:
    task_id = _queued(stack)
    with Session(stack.engine) as session:
        assert state_of(session=session, task_id=task_id) == TaskState.QUEUED
        assert state_of(session=session, task_id=str(uuid.uuid4())) is None
    started = utcnow()
    assert _finish(stack, task_id, started) is None
    with Session(stack.engine) as session:
        record = get_task_record(session=session, task_id=task_id)
        assert record is not None and record.message is None  # no redelivery copy once it ran
        assert (record.state, record.attempts, record.progress, record.result) == ("SUCCESS", 1, 100,
                                                                                  {"raspberry_id": "pi-1"})
        assert record.started_at == started and record.finished_at is not None and record.finished_at >= started
    assert _states(stack, task_id) == ["QUEUED", "STARTED", "SUCCESS"]
    # A message delivered again after its SUCCESS (its ack lost with a broker node, its worker's host cut off) runs
    # again and writes nothing: the first run's result and history stand.
    assert _finish(stack, task_id, utcnow(), result={"raspberry_id": "late"}) == TaskState.SUCCESS
    with Session(stack.engine) as session:
        record = get_task_record(session=session, task_id=task_id)
        assert record is not None and (record.state, record.attempts, record.result) == (
            "SUCCESS", 1, {"raspberry_id": "pi-1"})
        assert record.started_at == started
    assert _states(stack, task_id) == ["QUEUED", "STARTED", "SUCCESS"]


def test_a_task_sent_outside_the_api_gets_its_record_from_the_short_write(stack: Stack) -> None:
    task_id = f"external-{uuid.uuid4()}"
    assert _finish(stack, task_id, utcnow()) is None
    with Session(stack.engine) as session:
        record = get_task_record(session=session, task_id=task_id)
        assert record is not None and (record.name, record.queue, record.state) == (NAME, "devices", "SUCCESS")
    assert _states(stack, task_id) == ["STARTED", "SUCCESS"]


def test_a_cancel_before_the_start_holds_and_one_after_it_is_overtaken_by_the_effect(stack: Stack) -> None:
    before, after = _queued(stack), _queued(stack)
    started = utcnow()
    with Session(stack.engine) as session, session.begin():
        for task_id, at in ((before, started - timedelta(seconds=1)), (after, started + timedelta(milliseconds=1))):
            session.execute(update(TaskRecord).where(TaskRecord.id == task_id)
                            .values(state=TaskState.CANCELED, canceled_at=at, canceled_by="test"))
    assert _finish(stack, before, started) == TaskState.CANCELED
    assert _finish(stack, after, started) is None
    with Session(stack.engine) as session:
        held, overtaken = (get_task_record(session=session, task_id=i) for i in (before, after))
        assert held is not None and held.state == "CANCELED" and held.result is None
        assert overtaken is not None and overtaken.state == "SUCCESS" and overtaken.canceled_at is not None
    assert _states(stack, before) == ["QUEUED"]
    assert _states(stack, after) == ["QUEUED", "STARTED", "SUCCESS"]


def test_a_device_health_task_on_a_worker_records_queued_started_success(stack: Stack) -> None:
    answer = stack.api.post("/devices/health", json={"id": f"pi-short-{uuid.uuid4().hex[:8]}",
                                                    "wifi_status": "connected", "cpu_percent": 12.5})
    assert answer.status_code == 202, answer.text
    record = stack.wait_task(answer.json()["task_id"])
    assert record["state"] == "SUCCESS" and record["attempts"] == 1
    assert [e["state"] for e in record["events"]] == ["QUEUED", "STARTED", "SUCCESS"]
    assert record["created_at"] <= record["started_at"] <= record["finished_at"]
