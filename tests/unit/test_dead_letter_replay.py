"""Replaying dead letters: what can become a task, what is refused, and a letter claimed once."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

# The domains' raw queues, registered as the API registers them (api/main.py).
from taskplatform.dead_letters.models import DeadLetter
from taskplatform.dead_letters.replay import replay_for
from taskplatform.dead_letters.store import (
    BASE64_PREFIX,
    AlreadyReplayed,
    NewDeadLetter,
    claim_for_replay,
    mark_replayed,
    record_dead_letters,
    release_claim,
)
from taskplatform.devices import raw_queue as _devices_raw_queue  # noqa: F401
from taskplatform.ledger.models import TaskRecord
from taskplatform.messaging.raw_messages import InvalidMessage
from taskplatform.sessions import raw_queue as _sessions_raw_queue  # noqa: F401


def task_letter(body: str) -> DeadLetter:
    return DeadLetter(queue="devices", task_name="devices.upsert", reason="retries_exhausted", body=body)


@pytest.mark.parametrize("stored", [
    "not json{",
    "[1, 2, 3]",
    '{"args": 5, "kwargs": []}',
    '{"args": [], "kwargs": []}',
    '{"args": []}',
    '"just a string"',
    "42",
    "null",
    BASE64_PREFIX + base64.b64encode(b"\xff\x00").decode(),
])
def test_a_task_letter_with_a_body_of_the_wrong_shape_is_invalid(stored: str) -> None:
    """Catches a 500 (TypeError, JSONDecodeError) or a silently coerced argument on replay."""
    with pytest.raises(InvalidMessage):
        replay_for(task_letter(stored))


@pytest.mark.parametrize("corrected", ["not json{", [1, 2, 3], {"args": 5, "kwargs": []}, 7, "[[], [], {}]x"])
def test_a_corrected_body_of_the_wrong_shape_is_invalid(corrected: Any) -> None:
    """Catches a corrected body that is not JSON or not args/kwargs reaching the broker."""
    with pytest.raises(InvalidMessage):
        replay_for(task_letter('{"args": [], "kwargs": {"reading": {"id": "x"}}}'), corrected)


@pytest.mark.parametrize("corrected", [{"args": [], "kwargs": {"reading": {"id": "pi\x00"}}},
                                       {"args": ["a\x00"], "kwargs": {}}, '{"args": [NaN], "kwargs": {}}'])
def test_a_corrected_task_body_the_ledger_cannot_store_is_invalid(corrected: Any) -> None:
    """Catches a replay that the Redis ledger's copy of its arguments (jsonb on PostgreSQL) turns into a 500: a NUL
    character or a number JSON does not have."""
    with pytest.raises(InvalidMessage):
        replay_for(task_letter('{"args": [], "kwargs": {"reading": {"id": "x"}}}'), corrected)


@pytest.mark.parametrize(("queue", "corrected"), [("rasp_data", "not json{"), ("rasp_data", [1, 2]),
                                                  ("raw_sessions", "not json{"), ("raw_sessions", {"user_id": "u"})])
def test_a_raw_letter_corrected_with_an_invalid_body_is_invalid(queue: str, corrected: Any) -> None:
    letter = DeadLetter(queue=queue, reason="invalid_json", body="{")
    with pytest.raises(InvalidMessage):
        replay_for(letter, corrected)


def test_well_formed_task_bodies_become_their_task() -> None:
    letter = DeadLetter(queue="reports", task_name="reports.daily", reason="retries_exhausted",
                        body='[[1], {"a": 2}, {"callbacks": null}]')
    replay = replay_for(letter)
    assert (replay.task_name, replay.args, replay.kwargs) == ("reports.daily", [1], {"a": 2})
    replay = replay_for(task_letter("{"), {"args": [], "kwargs": {"reading": {"id": "pi"}}})
    assert replay.kwargs == {"reading": {"id": "pi"}}
    replay = replay_for(task_letter("{"), {"args": [], "kwargs": {"readings": [{"id": "pi"}, {"id": "pj"}]}})
    assert replay.kwargs == {"readings": [{"id": "pi"}, {"id": "pj"}]}


@pytest.mark.parametrize(("corrected", "where"), [
    ({"args": [], "kwargs": {"reading": {}}}, "kwargs.reading"),  # what schemathesis sent: the worker said "id"
    ({"args": [], "kwargs": {"readings": [{"id": "pi"}, {"cpu_percent": 1}]}}, "kwargs.readings.1"),
    ({"args": [], "kwargs": {"readings": []}}, "kwargs.readings"),
    ({"args": [], "kwargs": {"readings": {"id": "pi"}}}, "kwargs.readings"),
    ({"args": [{"id": "pi"}], "kwargs": {}}, "kwargs"),
    ({"args": [], "kwargs": {"reading": {"id": "pi"}, "extra": 1}}, "kwargs"),
    ({"args": [], "kwargs": {}}, "kwargs"),
])
def test_a_corrected_body_its_task_would_refuse_is_invalid_naming_the_item(corrected: Any, where: str) -> None:
    """Breach caught (schemathesis, contract run): a replay accepted with 202 whose task then failed in the worker
    ("id: Field required"), although the API could see it. The arguments of a task that applies a raw queue's
    messages are checked as those messages are."""
    with pytest.raises(InvalidMessage) as refused:
        replay_for(task_letter('{"args": [], "kwargs": {"reading": {"id": "x"}}}'), corrected)
    assert str(refused.value).startswith(where), refused.value


def test_a_session_letter_is_checked_as_sessions_are() -> None:
    letter = DeadLetter(queue="sessions", task_name="sessions.persist", reason="retries_exhausted", body="{")
    with pytest.raises(InvalidMessage, match="kwargs.session"):
        replay_for(letter, {"args": [], "kwargs": {"session": {"user_id": "u"}}})


def _letter(engine: Engine) -> int:
    with Session(engine) as session, session.begin():
        record_dead_letters(session=session, letters=[NewDeadLetter(queue="rasp_data", reason="x", body="{}")])
    with Session(engine) as session:
        return session.scalars(select(DeadLetter.id).order_by(DeadLetter.id.desc())).first() or 0


def _replayed_by(engine: Engine, letter_id: int, task_id: str, state: str) -> None:
    with Session(engine) as session:
        session.add(TaskRecord(id=task_id, name="devices.upsert", queue="devices", state=state))
        mark_replayed(session=session, letter_id=letter_id, task_id=task_id)
        session.commit()


def test_a_letter_is_claimed_once_and_again_only_after_its_replay_failed(engine: Engine) -> None:
    """Catches a letter replayed twice (double click, two bulk replays) or a failed replay that blocks a fix."""
    letter_id = _letter(engine)
    with Session(engine) as first, Session(engine) as second:
        claim = claim_for_replay(session=first, letter_id=letter_id)
        first.commit()
        with pytest.raises(AlreadyReplayed):  # being replayed, no task yet
            claim_for_replay(session=second, letter_id=letter_id)
        release_claim(session=first, claim=claim)  # the broker refused it: as it was
        first.commit()
        second.rollback()
        claim_for_replay(session=second, letter_id=letter_id)
        second.rollback()

    _replayed_by(engine, letter_id, "task-ok", "SUCCESS")
    with Session(engine) as session, pytest.raises(AlreadyReplayed, match="task-ok"):
        claim_for_replay(session=session, letter_id=letter_id)

    _replayed_by(engine, letter_id, "task-failed", "FAILURE")
    with Session(engine) as session:
        claim = claim_for_replay(session=session, letter_id=letter_id)
        assert claim.previous_task_id == "task-failed"
        session.commit()


def test_the_store_takes_bodies_errors_and_headers_postgresql_would_refuse(engine: Engine) -> None:
    """Catches a message that cannot even be dead-lettered (NUL bytes, AMQP timestamps in headers)."""
    import datetime

    with Session(engine) as session, session.begin():
        record_dead_letters(session=session, letters=[NewDeadLetter(
            queue="rasp_data", reason="invalid_json", body=b'{"id": "a\x00b"', error="bad \x00 byte",
            headers={"sent": datetime.datetime(2026, 1, 1), "k": "v\x00", "n": float("nan"), "big": 2**70, "ok": 1})])
    with Session(engine) as session:
        letter = session.scalars(select(DeadLetter)).one()
    assert letter.body == BASE64_PREFIX + base64.b64encode(b'{"id": "a\x00b"').decode()
    assert "\x00" not in (letter.error or "") and letter.headers == {"k": "v\\x00", "ok": 1}
