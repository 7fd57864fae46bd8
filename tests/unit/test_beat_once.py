"""Beat sends each fire once: the fire time two beats agree on, the claim in `schedule_runs`, and the scheduler that
sends only what it claimed (no server: SQLite files)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from celery import Celery
from celery.beat import ScheduleEntry
from celery.schedules import crontab, schedule
from celery.utils.imports import symbol_by_name
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from celeryconfig import celery_settings
from taskplatform.core.db import make_engine
from taskplatform.messaging import beat_once
from taskplatform.messaging.beat_once import OnceScheduler
from taskplatform.messaging.fire_times import aligned_is_due, fire_time, interval_slot, latest_crontab_boundary
from taskplatform.messaging.schedule_runs import ScheduleRun, claim_fire, list_schedule_runs
from tests.unit.settings_env import settings

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
NIGHTLY = crontab(hour=23, minute=55)


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SAO_PAULO)


# Fire times ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("now", ["2026-11-21T23:55:00.004", "2026-11-21T23:55:00.350", "2026-11-21T23:57:10",
                                 "2026-11-22T00:10:00", "2026-11-22T23:54:59"])
def test_a_crontab_fire_is_for_its_latest_boundary_whenever_a_beat_fires_it(now: str) -> None:
    """Breach caught: a crontab's fire time taken from the moment a beat fires (two beats a few ms apart would
    claim different fires and both send), or a catch-up after a restart claiming a fire of its own."""
    assert latest_crontab_boundary(NIGHTLY, local(now), SAO_PAULO) == local("2026-11-21T23:55").astimezone(UTC)


def test_a_crontab_boundary_is_read_in_its_time_zone_and_matches_month_day_and_weekday() -> None:
    assert latest_crontab_boundary(NIGHTLY, local("2026-11-22T23:55:01"), UTC) == datetime(2026, 11, 22, 23, 55,
                                                                                             tzinfo=UTC)
    mondays = crontab(hour="4,16", minute="10,40", day_of_week="mon")  # Celery: 0 is Sunday
    # 2026-11-25 is a Wednesday: the last fire was Monday the 23rd at 16:40.
    assert latest_crontab_boundary(mondays, local("2026-11-25T12:00"), SAO_PAULO) == local("2026-11-23T16:40")
    assert latest_crontab_boundary(mondays, local("2026-11-23T16:39"), SAO_PAULO) == local("2026-11-23T16:10")
    first_of_march = crontab(hour=0, minute=0, day_of_month=1, month_of_year=3)
    assert latest_crontab_boundary(first_of_march, local("2026-02-28T23:59"), SAO_PAULO) == local("2025-03-01T00:00")


def test_an_interval_fire_is_for_its_epoch_aligned_slot() -> None:
    every_2s = timedelta(seconds=2)
    base = datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC)
    for offset in (0, 0.004, 0.9, 1.999):
        assert interval_slot(every_2s, base + timedelta(seconds=offset)) == base
    assert interval_slot(every_2s, base + timedelta(seconds=2.001)) == base + every_2s
    assert interval_slot(timedelta(minutes=2), local("2026-11-21T09:03:59")) == datetime(2026, 11, 21, 12, 2,
                                                                                          tzinfo=UTC)


def test_interval_entries_fire_once_per_slot_at_its_boundary_on_every_beat() -> None:
    """Breach caught: an interval entry firing at the phase its beat started with (two beats then fire for the
    same slot at unrelated moments, or one beat twice in a slot)."""
    period, base = timedelta(seconds=2), datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC)
    due, next_s = aligned_is_due(period, last_run_at=base - timedelta(seconds=0.7), now=base + timedelta(seconds=0.01))
    assert due and next_s == pytest.approx(1.99)
    due, next_s = aligned_is_due(period, last_run_at=base + timedelta(seconds=0.01), now=base + timedelta(seconds=1.5))
    assert not due and next_s == pytest.approx(0.5)
    # A beat that has not run for long fires at once, for the current slot only.
    due, _ = aligned_is_due(period, last_run_at=base - timedelta(days=3), now=base + timedelta(seconds=1))
    assert due


def test_fire_time_chooses_by_the_kind_of_schedule() -> None:
    app = Celery("fire-times", set_as_current=False)
    app.conf.timezone = "America/Sao_Paulo"
    now = local("2026-11-21T23:55:00.2")
    assert fire_time(schedule(timedelta(seconds=120), app=app), now) == datetime(2026, 11, 22, 2, 54, tzinfo=UTC)
    assert fire_time(crontab(hour=23, minute=55, app=app), now) == local("2026-11-21T23:55")


# The claim -----------------------------------------------------------------------------------------------------

FIRE = datetime(2026, 11, 22, 2, 55, tzinfo=UTC)


def test_the_first_claim_wins_and_later_ones_are_counted_as_skipped(engine: Engine) -> None:
    """Breach caught: two beats both told they won one fire, or a losing beat's attempt leaving no trace."""
    with Session(engine) as session, session.begin():
        first = claim_fire(session=session, schedule="daily-report", fire_time=FIRE, task="reports.daily",
                           task_id="task-a", beat="host-a:1")
    with Session(engine) as session, session.begin():
        second = claim_fire(session=session, schedule="daily-report", fire_time=FIRE, task="reports.daily",
                            task_id="task-b", beat="host-b:2")
    with Session(engine) as session, session.begin():
        third = claim_fire(session=session, schedule="daily-report", fire_time=FIRE, task="reports.daily",
                           task_id="task-c", beat="host-c:3")
        other = claim_fire(session=session, schedule="daily-report", fire_time=FIRE + timedelta(days=1),
                           task="reports.daily", task_id="task-d", beat="host-b:2")
    assert first.won and first.task_id == "task-a"
    assert not second.won and (second.task_id, second.fired_by) == ("task-a", "host-a:1")
    assert not third.won and other.won
    with Session(engine) as session:
        row = session.get_one(ScheduleRun, ("daily-report", FIRE))
        assert (row.task_id, row.fired_by, row.skipped, row.skipped_by) == ("task-a", "host-a:1", 2, "host-c:3")
        page = list_schedule_runs(session=session, schedule="daily-report")
        assert [r.task_id for r in page.items] == ["task-d", "task-a"] and page.total == 2


# The scheduler -------------------------------------------------------------------------------------------------

class Sent:
    def __init__(self, task_id: str) -> None:
        self.id = task_id


def scheduler(sessions: sessionmaker[Session], beat: str, sent: list[tuple[str, str]]) -> OnceScheduler:
    app = Celery("beat-once-test", set_as_current=False)
    app.conf.timezone = "America/Sao_Paulo"
    once = OnceScheduler(app, lazy=True)
    once.beat = beat
    once.__dict__["_sessions"] = sessions

    def apply_async(entry: ScheduleEntry, producer: Any = None, advance: bool = True, **_: Any) -> Sent:
        sent.append((beat, entry.options["task_id"]))
        return Sent(entry.options["task_id"])

    once.apply_async = apply_async  # type: ignore[method-assign]
    return once


def entry_for(app: Celery) -> ScheduleEntry:
    return ScheduleEntry(name="daily-report", task="reports.daily", schedule=timedelta(hours=1), app=app)


def test_of_two_beats_firing_one_entry_one_sends_and_the_other_is_recorded_as_skipped(engine: Engine) -> None:
    """Breach caught: the scheduler sending without winning the claim, or sending under another id than the row's."""
    sessions = sessionmaker(bind=engine)
    sent: list[tuple[str, str]] = []
    beats = [scheduler(sessions, name, sent) for name in ("host-a:1", "host-b:2")]
    for beat in beats:
        beat.apply_entry(entry_for(beat.app))
    assert len(sent) == 1
    with Session(engine) as session:
        [row] = session.scalars(select(ScheduleRun)).all()
    assert (row.fired_by, row.task_id) == sent[0] and row.sent_at is not None
    assert (row.skipped, row.skipped_by) == (1, "host-b:2")


def test_a_beat_that_cannot_reach_the_database_sends_the_fire_unguarded(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch,
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    """The documented choice: after a few attempts, send (every scheduled task is idempotent) rather than miss."""
    waits: list[float] = []
    monkeypatch.setattr(beat_once.time, "sleep", waits.append)
    unreachable = make_engine(f"sqlite:///{tmp_path}/no-such-dir/db.sqlite3")
    sent: list[tuple[str, str]] = []
    beat = scheduler(sessionmaker(bind=unreachable), "host-a:1", sent)
    beat.apply_entry(entry_for(beat.app))
    assert len(sent) == 1 and waits == list(beat_once.CLAIM_BACKOFF_S)
    assert "UNGUARDED" in caplog.text


def test_every_beat_of_the_platform_uses_this_scheduler(clean_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Breach caught: `celery -A taskplatform beat` (make up, compose) running Celery's default scheduler, which
    sends every fire of every beat."""
    values = celery_settings(settings(monkeypatch, BROKER_URL="redis://127.0.0.1:6399/0"))
    assert symbol_by_name(values["beat_scheduler"]) is OnceScheduler
