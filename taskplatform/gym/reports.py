"""Daily report reads and writes: one day's check-ins in, one upserted row per date out."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session, aliased

from taskplatform.core.db import dialect_insert, utcnow
from taskplatform.gym.models import Checkin, DailyReport


def local_day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants where a local day starts and the next one starts (DST-safe)."""
    start = datetime.combine(day, time(0), tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tz).astimezone(UTC)
    return start, end


_PG_DAY = "SELECT aluno_id, data_hora FROM checkins WHERE data_hora >= %(start)s AND data_hora < %(end)s"


def day_checkins(*, session: Session, start: datetime, end: datetime) -> list[tuple[int, datetime]]:
    """(student, aware instant) of every check-in in [start, end)."""
    if session.get_bind().dialect.name == "postgresql":
        # psycopg already returns aware datetimes: plain driver rows skip SQLAlchemy's per-row work.
        fetched = session.connection().exec_driver_sql(_PG_DAY, {"start": start, "end": end}).cursor.fetchall()
        return cast(list[tuple[int, datetime]], fetched)  # psycopg's list of tuples, typed as a Sequence
    rows = session.execute(select(Checkin.aluno_id, Checkin.data_hora)
                           .where(Checkin.data_hora >= start, Checkin.data_hora < end))
    return [(int(aluno_id), instant) for aluno_id, instant in rows]


def count_checkins(*, session: Session, start: datetime, end: datetime) -> int:
    return int(session.scalar(select(func.count()).select_from(Checkin)
                              .where(Checkin.data_hora >= start, Checkin.data_hora < end)) or 0)


def count_new_students(*, session: Session, start: datetime, end: datetime) -> int:
    """Students whose first check-in ever falls in [start, end)."""
    earlier = aliased(Checkin)
    first_timers = (select(Checkin.aluno_id).where(Checkin.data_hora >= start, Checkin.data_hora < end)
                    .where(~exists().where(earlier.aluno_id == Checkin.aluno_id, earlier.data_hora < start))
                    .distinct().subquery())
    return int(session.scalar(select(func.count()).select_from(first_timers)) or 0)


def upsert_daily_report(*, session: Session, day: date, content: dict[str, Any], chart_key: str | None,
                        task_id: str | None) -> None:
    """Write the report of `day`, replacing an earlier one (two runs leave one row)."""
    values = {"content": content, "chart_key": chart_key, "task_id": task_id, "generated_at": utcnow()}
    stmt = dialect_insert(session, DailyReport.__table__).values(data=day, **values)
    session.execute(stmt.on_conflict_do_update(index_elements=[DailyReport.__table__.c.data], set_=values))


def get_daily_report(*, session: Session, day: date) -> DailyReport | None:
    return session.get(DailyReport, day)
