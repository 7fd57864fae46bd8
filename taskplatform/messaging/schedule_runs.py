"""`schedule_runs`: one row per fire of a beat entry, claimed by the beat that sends it.

The key is (schedule, fire_time) (`taskplatform/messaging/fire_times.py` defines the fire time). Every beat that
fires an entry runs one statement, `INSERT ... ON CONFLICT (schedule, fire_time) DO UPDATE`: the first inserts the
row and wins (it sends the task, whose id is already in the row); any later one finds the row and, in the same
statement, counts itself in `skipped` (`skipped_by`, `skipped_at`: the last beat that did), and sends nothing.
The statement tells which of the two happened: the row it returns has `skipped = 0` only for the winner.

What an operator reads: `fired_by` sent `task_id` for `fire_time`; `sent_at` is set once the broker took the
message (NULL: the send failed, or the beat died between claim and send, and this fire did not run); `skipped`
other attempts were refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Index, Integer, String, delete, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from taskplatform.core.db import Base, UTCDateTime, dialect_insert, utcnow
from taskplatform.core.paging import Page, fetch_page, where_given


class ScheduleRun(Base):
    """One fire of a beat entry: who sent it, and how many other beats' attempts were skipped."""

    __tablename__ = "schedule_runs"
    __table_args__ = (Index("ix_schedule_runs_fire_time", "fire_time"),)

    #: The beat entry's name (`daily-report`).
    schedule: Mapped[str] = mapped_column(String(200), primary_key=True)
    #: The instant this fire is for, in UTC: a crontab's boundary or an interval's aligned slot.
    fire_time: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    task: Mapped[str] = mapped_column(String(200))
    #: The id the winner sends the task under (chosen before the claim, so the row names it even if the beat
    #: dies right after sending).
    task_id: Mapped[str] = mapped_column(String(64))
    #: The beat that won: `host:pid`.
    fired_by: Mapped[str] = mapped_column(String(255))
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: How many other attempts at this fire were refused, the last of them by `skipped_by` at `skipped_at`.
    skipped: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    skipped_by: Mapped[str | None] = mapped_column(String(255))
    skipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


@dataclass(frozen=True)
class Claim:
    """What a beat's claim found: `won` (send `task_id`), or the row of the beat that won."""

    won: bool
    task_id: str
    fired_by: str
    claimed_at: datetime


def claim_fire(*, session: Session, schedule: str, fire_time: datetime, task: str, task_id: str, beat: str,
               now: datetime | None = None) -> Claim:
    """Claim (schedule, fire_time) for `beat`, or count `beat` as skipped on the row of the beat that has it: one
    statement, atomic on PostgreSQL and SQLite alike (a concurrent claim waits for this one's commit)."""
    now = now or utcnow()
    table = ScheduleRun.__table__
    statement = dialect_insert(session, table).values(
        schedule=schedule, fire_time=fire_time, task=task, task_id=task_id, fired_by=beat, claimed_at=now,
        skipped=0)
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.schedule, table.c.fire_time],
        set_={"skipped": table.c.skipped + 1, "skipped_by": statement.excluded.fired_by,
              "skipped_at": statement.excluded.claimed_at},
    ).returning(table.c.skipped, table.c.task_id, table.c.fired_by, table.c.claimed_at)
    row = session.execute(statement).one()
    return Claim(won=row.skipped == 0, task_id=row.task_id, fired_by=row.fired_by, claimed_at=row.claimed_at)


def mark_sent(*, session: Session, schedule: str, fire_time: datetime, now: datetime | None = None) -> None:
    """The broker took the winner's message."""
    table = ScheduleRun.__table__
    session.execute(update(table).where(table.c.schedule == schedule, table.c.fire_time == fire_time)
                    .values(sent_at=now or utcnow()))


def list_schedule_runs(*, session: Session, schedule: str | None = None, limit: int = 50,
                       offset: int = 0) -> Page[ScheduleRun]:
    """Fires newest first, optionally of one entry."""
    query = where_given(select(ScheduleRun), (ScheduleRun.schedule, schedule))
    return fetch_page(session, query, ScheduleRun.fire_time.desc(), ScheduleRun.schedule,
                      limit=limit, offset=offset)


def purge_schedule_runs(*, session: Session, before: datetime) -> int:
    """Delete the fires before `before`; how many went. One statement: the schedule fires about 800 times a day
    (the Redis redelivery sweep every 2 minutes, the nightly jobs), so a night's purge deletes one day's rows."""
    table = ScheduleRun.__table__
    deleted = session.execute(delete(table).where(table.c.fire_time < before))
    return int(getattr(deleted, "rowcount", 0) or 0)
