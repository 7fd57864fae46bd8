"""Grouped tasks in the ledger on SQLite (taskplatform/ledger/members.py): recorded together, finished together,
a cancelled member skipped, a refused one failed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from taskplatform.ledger.members import NewMember, create_members, delete_members, fail_members, finish_members
from taskplatform.ledger.records import TaskState, get_task_record, record_transition, task_events

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NAME = "devices.upsert"


def _create(engine: Engine, ids: list[str]) -> None:
    with Session(engine) as session, session.begin():
        create_members(session=session, name=NAME, queue="devices", now=T0, members=[
            NewMember(i, {"raspberry_id": i}, {"args": [], "kwargs": {"reading": {"id": i}}}) for i in ids])


def test_members_are_queued_with_their_own_message_then_finished_together_skipping_a_cancelled_one(
        engine: Engine) -> None:
    _create(engine, ["a", "b", "c"])
    with Session(engine) as session, session.begin():
        record_transition(session=session, task_id="b", name=NAME, queue="devices", state=TaskState.CANCELED)
    with Session(engine) as session, session.begin():
        live = finish_members(session=session, name=NAME, queue="devices",
                              results={i: {"raspberry_id": i} for i in "abcz"},
                              started_at=T0 + timedelta(seconds=1), now=T0 + timedelta(seconds=2), runtime_s=1.0,
                              detail={"carrier": "x", "coalesced": 3})
    assert live == {"a", "c", "z"}  # z: a record lost in a database crash is written now
    with Session(engine) as session:
        for task_id in "acz":
            record = get_task_record(session=session, task_id=task_id)
            assert record is not None and record.state == TaskState.SUCCESS and record.attempts == 1
            assert record.result == {"raspberry_id": task_id} and record.message is None
            assert [e.state for e in task_events(session=session, task_id=task_id)] == [
                *(["QUEUED"] if task_id != "z" else []), "STARTED", "SUCCESS"]
        cancelled = get_task_record(session=session, task_id="b")
        assert cancelled is not None and cancelled.state == TaskState.CANCELED and cancelled.result is None


def test_a_refused_member_fails_and_deleted_members_are_gone(engine: Engine) -> None:
    _create(engine, ["d", "e"])
    with Session(engine) as session, session.begin():
        failed = fail_members(session=session, errors={"d": ("DataError", "value out of range")}, started_at=T0,
                              now=T0, detail=None)
        delete_members(session=session, task_ids=["e"])
    assert failed == {"d"}
    with Session(engine) as session:
        record = get_task_record(session=session, task_id="d")
        assert record is not None and record.state == TaskState.FAILURE
        assert record.error_message == "value out of range" and record.attempts == 1
        assert get_task_record(session=session, task_id="e") is None
        assert task_events(session=session, task_id="e") == []
