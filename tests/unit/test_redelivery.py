"""Redelivery (Redis): a task still QUEUED long after it was enqueued is published again, once, from the ledger."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, update
from sqlalchemy.orm import Session, sessionmaker

from taskplatform.ledger.models import TaskRecord
from taskplatform.ledger.records import TaskState, create_task_record, record_transition
from taskplatform.ledger.redelivery import redeliver_lost

MESSAGE = {"args": [], "kwargs": {"aluno_ids": [1], "instants": ["2026-11-22T10:00:00+00:00"]}}


class Broker:
    def __init__(self) -> None:
        self.published: list[tuple[str, list[Any], dict[str, Any], str, str | None]] = []

    def publish(self, name: str, args: list[Any], kwargs: dict[str, Any], task_id: str, queue: str | None) -> None:
        self.published.append((name, args, kwargs, task_id, queue))


def enqueue(engine: Engine, task_id: str, *, message: dict[str, Any] | None = MESSAGE) -> None:
    with Session(engine) as session:
        assert create_task_record(session=session, task_id=task_id, name="checkins.ingest_batch", queue="checkins",
                                  message=message)
        session.commit()


def age(engine: Engine, task_id: str, seconds: float) -> None:
    with engine.begin() as connection:
        connection.execute(update(TaskRecord).where(TaskRecord.id == task_id)
                           .values(created_at=datetime.now(UTC) - timedelta(seconds=seconds)))


def test_only_tasks_queued_for_too_long_are_published_again_and_only_once(engine: Engine) -> None:
    for task_id in ("lost", "recent", "started", "no-copy"):
        enqueue(engine, task_id, message=None if task_id == "no-copy" else MESSAGE)
    # a worker has it: the broker redelivers it if the worker dies
    with Session(engine) as session, session.begin():
        record_transition(session=session, task_id="started", name="checkins.ingest_batch",
                          queue="checkins", state=TaskState.STARTED)
    for task_id in ("lost", "started", "no-copy"):
        age(engine, task_id, 3600)
    broker = Broker()
    assert redeliver_lost(sessionmaker(engine), broker.publish, now=datetime.now(UTC), after_s=900) == ["lost"]
    assert broker.published == [("checkins.ingest_batch", [], MESSAGE["kwargs"], "lost", "checkins")]
    assert redeliver_lost(sessionmaker(engine), broker.publish, now=datetime.now(UTC), after_s=900) == []
    assert len(broker.published) == 1


def test_starting_a_task_drops_the_ledgers_copy_of_its_message(engine: Engine) -> None:
    enqueue(engine, "t1")
    with Session(engine) as session:
        assert session.get(TaskRecord, "t1").message == MESSAGE  # type: ignore[union-attr]
    with Session(engine) as session, session.begin():
        record_transition(session=session, task_id="t1", name="checkins.ingest_batch", queue="checkins",
                          state=TaskState.STARTED)
    with Session(engine) as session:
        assert session.get(TaskRecord, "t1").message is None  # type: ignore[union-attr]
