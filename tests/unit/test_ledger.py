"""Task ledger on SQLite: records, transitions, events, idempotency keys and UTC timestamps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from taskplatform.ledger.idempotency import ANONYMOUS, IdempotencyKeyReused, ScopedKey
from taskplatform.ledger.models import TaskRecord
from taskplatform.ledger.records import (
    TaskState,
    create_task_record,
    find_by_idempotency_key,
    get_task_record,
    record_transition,
    task_events,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def transition(engine: Engine, task_id: str, state: TaskState, **fields: object) -> None:
    with Session(engine) as session, session.begin():
        record_transition(session=session, task_id=task_id, name="housing.train", queue="training",
                          state=state, **fields)


def test_created_record_is_queued_with_one_event(session: Session) -> None:
    assert create_task_record(session=session, task_id="t1", name="housing.train", queue="training",
                              params={"n": 3})
    session.commit()
    record = get_task_record(session=session, task_id="t1")
    assert record is not None
    assert (record.state, record.attempts, record.params, record.queue) == ("QUEUED", 0, {"n": 3}, "training")
    assert [e.state for e in task_events(session=session, task_id="t1")] == ["QUEUED"]


def test_started_twice_counts_two_deliveries(engine: Engine, session: Session) -> None:
    create_task_record(session=session, task_id="t1", name="housing.train", queue="training")
    session.commit()
    transition(engine, "t1", TaskState.STARTED)
    transition(engine, "t1", TaskState.STARTED)
    record = get_task_record(session=session, task_id="t1")
    assert record is not None
    assert (record.state, record.attempts) == ("STARTED", 2)


def test_later_states_keep_the_attempt_count_and_store_fields(engine: Engine, session: Session) -> None:
    create_task_record(session=session, task_id="t1", name="housing.train", queue="training")
    session.commit()
    transition(engine, "t1", TaskState.STARTED, started_at=T0)
    transition(engine, "t1", TaskState.SUCCESS, result={"rmse": 0.5}, finished_at=T0 + timedelta(seconds=2))
    record = get_task_record(session=session, task_id="t1")
    assert record is not None
    assert (record.state, record.attempts, record.result) == ("SUCCESS", 1, {"rmse": 0.5})
    assert record.finished_at is not None and record.started_at is not None
    assert record.finished_at - record.started_at == timedelta(seconds=2)


@pytest.mark.parametrize("late", [TaskState.RETRY, TaskState.PROGRESS, TaskState.STARTED])
def test_a_late_transition_never_moves_a_finished_task_back(engine: Engine, session: Session,
                                                            late: TaskState) -> None:
    """Breach caught: a RETRY written after the retried attempt already succeeded (Celery publishes the retry
    before `on_retry` runs) leaving the task RETRY forever, with its result hidden."""
    create_task_record(session=session, task_id="t1", name="housing.train", queue="training")
    session.commit()
    transition(engine, "t1", TaskState.STARTED)
    transition(engine, "t1", TaskState.SUCCESS, result={"ok": True})
    transition(engine, "t1", late, error_type="Late")
    session.expire_all()
    record = get_task_record(session=session, task_id="t1")
    assert record is not None
    assert (record.state, record.result, record.error_type) == ("SUCCESS", {"ok": True}, None)
    assert record.attempts == (2 if late == TaskState.STARTED else 1)  # a redelivery still counts
    assert [e.state for e in task_events(session=session, task_id="t1")][-1] == late  # history keeps it


@pytest.mark.parametrize("late", [TaskState.SUCCESS, TaskState.FAILURE])
def test_a_late_final_state_never_replaces_a_success(engine: Engine, session: Session, late: TaskState) -> None:
    """Breach caught (make test-hosts, a RabbitMQ node killed): a message whose ack was lost with its node ran
    again, found its check-ins already stored and wrote a second SUCCESS over the first, with `inserted: 0`; the
    ledger no longer said which run stored them. A cut-off worker's late result does the same."""
    create_task_record(session=session, task_id="t1", name="checkins.ingest_batch", queue="checkins")
    session.commit()
    transition(engine, "t1", TaskState.STARTED)
    transition(engine, "t1", TaskState.SUCCESS, result={"inserted": 500})
    transition(engine, "t1", TaskState.STARTED)
    transition(engine, "t1", late, result={"inserted": 0}, error_type="Late")
    session.expire_all()
    record = get_task_record(session=session, task_id="t1")
    assert record is not None
    assert (record.state, record.result, record.error_type, record.attempts) == ("SUCCESS", {"inserted": 500},
                                                                                 None, 2)
    assert [e.state for e in task_events(session=session, task_id="t1")] == ["QUEUED", "STARTED", "SUCCESS",
                                                                             "STARTED"]


def test_a_success_still_replaces_a_failure(engine: Engine, session: Session) -> None:
    """A redelivery that succeeds after a recorded FAILURE (its ack lost) made the effect: SUCCESS is the truth."""
    create_task_record(session=session, task_id="t1", name="checkins.ingest_batch", queue="checkins")
    session.commit()
    transition(engine, "t1", TaskState.FAILURE, error_type="Boom")
    transition(engine, "t1", TaskState.SUCCESS, result={"inserted": 1}, error_type=None)
    session.expire_all()
    record = get_task_record(session=session, task_id="t1")
    assert record is not None
    assert (record.state, record.result) == ("SUCCESS", {"inserted": 1})


def test_transition_of_an_unknown_task_creates_its_record(engine: Engine, session: Session) -> None:
    transition(engine, "from-beat", TaskState.STARTED)
    record = get_task_record(session=session, task_id="from-beat")
    assert record is not None
    assert (record.name, record.queue, record.state, record.attempts) == ("housing.train", "training", "STARTED", 1)
    assert record.created_at.tzinfo is UTC


def test_events_are_appended_in_order(engine: Engine, session: Session) -> None:
    create_task_record(session=session, task_id="t1", name="housing.train", queue="training")
    session.commit()
    for state in (TaskState.STARTED, TaskState.PROGRESS, TaskState.RETRY, TaskState.STARTED, TaskState.FAILURE):
        transition(engine, "t1", state, detail={"state": str(state)})
    events = task_events(session=session, task_id="t1")
    assert [e.state for e in events] == ["QUEUED", "STARTED", "PROGRESS", "RETRY", "STARTED", "FAILURE"]
    assert [e.detail for e in events[1:]] == [{"state": e.state} for e in events[1:]]
    assert all(a.at <= b.at for a, b in zip(events, events[1:], strict=False))


def _key(key: str, scope: str = ANONYMOUS, body: str = "body") -> ScopedKey:
    return ScopedKey(key=key, scope=scope, request_hash=body.ljust(64, "0"))


def test_reused_idempotency_key_is_refused_and_finds_the_first(session: Session) -> None:
    assert create_task_record(session=session, task_id="first", name="churn.retrain", queue="training",
                              idempotency=_key("k1"))
    assert not create_task_record(session=session, task_id="second", name="churn.retrain", queue="training",
                                  idempotency=_key("k1"))
    session.commit()
    found = find_by_idempotency_key(session=session, name="churn.retrain", idempotency=_key("k1"))
    assert found is not None and found.id == "first"
    assert (found.idempotency_scope, found.request_hash) == (ANONYMOUS, "body".ljust(64, "0"))
    assert get_task_record(session=session, task_id="second") is None
    assert task_events(session=session, task_id="second") == []


def test_idempotency_key_is_scoped_to_the_task_name_and_absent_keys_never_clash(session: Session) -> None:
    assert create_task_record(session=session, task_id="a", name="churn.retrain", queue="training",
                              idempotency=_key("k1"))
    assert create_task_record(session=session, task_id="b", name="housing.train", queue="training",
                              idempotency=_key("k1"))
    assert create_task_record(session=session, task_id="c", name="housing.train", queue="training")
    assert create_task_record(session=session, task_id="d", name="housing.train", queue="training")
    assert find_by_idempotency_key(session=session, name="churn.retrain", idempotency=_key("other")) is None


def test_idempotency_key_is_scoped_to_the_credential(session: Session) -> None:
    """Breach caught: a key used by one credential returning that credential's task to another one."""
    assert create_task_record(session=session, task_id="a", name="churn.retrain", queue="training",
                              idempotency=_key("k1", scope="key:alice"))
    assert create_task_record(session=session, task_id="b", name="churn.retrain", queue="training",
                              idempotency=_key("k1", scope="key:bob"))
    session.commit()
    found = find_by_idempotency_key(session=session, name="churn.retrain", idempotency=_key("k1", scope="key:bob"))
    assert found is not None and found.id == "b"
    assert find_by_idempotency_key(session=session, name="churn.retrain",
                                   idempotency=_key("k1", scope="key:carol")) is None


def test_idempotency_key_with_another_request_hash_is_refused(session: Session) -> None:
    """Breach caught: the same key with another body silently answering with the first task."""
    assert create_task_record(session=session, task_id="a", name="churn.retrain", queue="training",
                              idempotency=_key("k1", body="first"))
    session.commit()
    with pytest.raises(IdempotencyKeyReused, match="'k1' was reused with a different request body"):
        find_by_idempotency_key(session=session, name="churn.retrain", idempotency=_key("k1", body="second"))


def test_idempotency_key_recorded_before_hashes_matches_any_request(session: Session) -> None:
    """Records migrated from before 0005 have no hash: their key still returns them, as it did."""
    assert create_task_record(session=session, task_id="old", name="churn.retrain", queue="training",
                              idempotency=_key("k1"))
    session.execute(TaskRecord.__table__.update().values(request_hash=None))
    session.commit()
    found = find_by_idempotency_key(session=session, name="churn.retrain", idempotency=_key("k1", body="new"))
    assert found is not None and found.id == "old"


def test_timestamps_round_trip_as_utc(engine: Engine, session: Session) -> None:
    local = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=timezone(timedelta(hours=-3)))
    transition(engine, "t1", TaskState.STARTED, started_at=local)
    with engine.connect() as connection:
        stored = connection.scalar(text("SELECT started_at FROM task_records WHERE id = 't1'"))
    assert stored == "2026-03-01 12:30:15.123456"
    record = get_task_record(session=session, task_id="t1")
    assert record is not None and record.started_at is not None
    assert record.started_at == local
    assert record.started_at.tzinfo is UTC
    assert record.started_at.hour == 12


def test_naive_timestamps_are_refused(engine: Engine, session: Session) -> None:
    naive = datetime(2026, 3, 1, 12, 0)
    with pytest.raises(StatementError) as excinfo:
        transition(engine, "t1", TaskState.STARTED, started_at=naive)
    assert isinstance(excinfo.value.orig, ValueError)
    assert "naive datetime" in str(excinfo.value.orig)
    assert "attach a time zone" in str(excinfo.value.orig)
    assert get_task_record(session=session, task_id="t1") is None
