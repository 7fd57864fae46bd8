"""Retention deletes only what is settled and old: finished task records and replayed dead letters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from taskplatform.dead_letters.models import DeadLetter
from taskplatform.ledger.models import TaskEvent, TaskRecord
from taskplatform.ledger.retention import purge_expired
from taskplatform.messaging.queues import queue_for
from taskplatform.messaging.schedule import PLATFORM_SCHEDULE as BEAT_SCHEDULE
from taskplatform.messaging.schedule_runs import ScheduleRun
from taskplatform.messaging.task_names import TaskName

NOW = datetime(2026, 11, 22, 4, 10, tzinfo=UTC)


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def add_task(session: Session, task_id: str, state: str, age_days: float) -> None:
    session.add(TaskRecord(id=task_id, name="housing.train", queue="training", state=state,
                           created_at=days_ago(age_days), updated_at=days_ago(age_days)))
    session.flush()
    session.add_all([TaskEvent(task_id=task_id, state="QUEUED", at=days_ago(age_days)),
                     TaskEvent(task_id=task_id, state=state, at=days_ago(age_days))])


def add_dead_letter(session: Session, body: str, age_days: float, replayed_days_ago: float | None) -> None:
    session.add(DeadLetter(queue="rasp_data", reason="invalid_json", body=body, created_at=days_ago(age_days),
                           replayed_at=None if replayed_days_ago is None else days_ago(replayed_days_ago)))


def add_schedule_run(session: Session, task_id: str, age_days: float) -> None:
    session.add(ScheduleRun(schedule="daily-report", fire_time=days_ago(age_days), task="reports.daily",
                            task_id=task_id, fired_by="host:1", claimed_at=days_ago(age_days)))


@pytest.fixture
def populated(engine: Engine) -> Engine:
    with Session(engine) as session:
        for i in range(5):
            add_task(session, f"old-success-{i}", "SUCCESS", 40)
        add_task(session, "old-failure", "FAILURE", 31)
        add_task(session, "old-revoked", "REVOKED", 100)
        add_task(session, "old-retrying", "RETRY", 45)  # not finished: kept whatever its age
        add_task(session, "old-queued", "QUEUED", 60)
        add_task(session, "recent-success", "SUCCESS", 29)
        add_dead_letter(session, "old, replayed long ago", 200, 95)
        add_dead_letter(session, "old, never replayed", 200, None)  # the only copy: kept
        add_dead_letter(session, "old, replayed recently", 200, 10)
        add_schedule_run(session, "old-fire", 31)
        add_schedule_run(session, "recent-fire", 29)
        session.commit()
    return engine


def test_cancelled_records_go_with_their_kept_arguments_while_canceling_ones_stay(engine: Engine) -> None:
    with Session(engine) as session:
        add_task(session, "old-canceled", "CANCELED", 40)
        add_task(session, "old-canceling", "CANCELING", 40)  # its worker has not stopped yet: not finished
        session.get(TaskRecord, "old-canceled").arguments = {"args": [], "kwargs": {"data": "2026-01-01"}}
        session.commit()
    purged = purge_expired(sessionmaker(engine), now=NOW, task_days=30, dead_letter_days=90)
    assert purged.task_records == 1
    assert remaining(engine)[0] == {"old-canceling"}


def remaining(engine: Engine) -> tuple[set[str], int, set[str]]:
    with Session(engine) as session:
        return (set(session.scalars(select(TaskRecord.id))),
                session.scalar(select(func.count()).select_from(TaskEvent)) or 0,
                set(session.scalars(select(DeadLetter.body))))


def test_purges_finished_old_records_with_their_events_and_long_replayed_dead_letters(populated: Engine) -> None:
    purged = purge_expired(sessionmaker(populated), now=NOW, task_days=30, dead_letter_days=90, batch=2)
    assert purged.as_dict() == {"task_records": 7, "dead_letters": 1, "schedule_runs": 1}
    records, events, letters = remaining(populated)
    assert records == {"old-retrying", "old-queued", "recent-success"}
    assert events == 2 * len(records), "events of the purged records went with them"
    assert letters == {"old, never replayed", "old, replayed recently"}
    with Session(populated) as session:
        assert set(session.scalars(select(ScheduleRun.task_id))) == {"recent-fire"}
    again = purge_expired(sessionmaker(populated), now=NOW, task_days=30, dead_letter_days=90, batch=2)
    assert again.as_dict() == {"task_records": 0, "dead_letters": 0, "schedule_runs": 0}


def test_zero_days_keeps_everything(populated: Engine) -> None:
    before = remaining(populated)
    assert purge_expired(sessionmaker(populated), now=NOW, task_days=0, dead_letter_days=0).as_dict() == \
        {"task_records": 0, "dead_letters": 0, "schedule_runs": 0}
    assert remaining(populated) == before


def test_beat_runs_the_purge_on_the_nightly_worker() -> None:
    entry = next(e for e in BEAT_SCHEDULE.values() if e["task"] == TaskName.MAINTENANCE_PURGE_EXPIRED)
    assert entry["schedule"].hour == {4}
    assert queue_for(TaskName.MAINTENANCE_PURGE_EXPIRED) == "reports"
