"""The fire time of a beat entry: the instant a fire is *for*, the same on every beat that fires it.

Two beat processes (two hosts) fire the same entry; each claims the fire in `schedule_runs` under
(entry, fire time) and only the first one sends the task (`taskplatform/messaging/beat_once.py`). That works
only if both compute the same fire time although they started at different moments and fire a few
milliseconds apart. So the fire time is never "now":

- **crontab**: the latest boundary of the crontab at or before now, in the crontab's time zone (TIMEZONE),
  given in UTC. A beat that fires at 23:55:00.004 and one that fires at 23:55:00.350 both fire for 23:55:00;
  a beat that comes back at 00:10 and catches up the 23:55 fire it missed claims 23:55 too, and loses to
  the beat that sent it on time. A local time that occurs twice (the hour DST repeats) is its first
  occurrence (`fold=0`), one that does not exist is what zoneinfo maps it to: either way the same on
  every beat.
- **interval** (`"schedule": 120.0`): the slot of the interval that now falls in, slots being aligned to the
  Unix epoch: floor(now / run_every) * run_every. Celery's own interval counts from when a beat started,
  so two beats would fire at unrelated phases; `aligned_is_due` makes every beat fire at the slot boundaries
  instead, so they fire for the same slot at about the same moment, and each beat fires at most once per
  slot.

Both need the beats' clocks to agree to well under the shortest period (NTP does).
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from celery.schedules import crontab, schedstate
from celery.schedules import schedule as interval_schedule

#: How far back a crontab's latest boundary is looked for. Any crontab Celery accepts matches within this
#: (the 29th of February on a given weekday recurs every 28 years at most).
_CRONTAB_LOOKBACK_DAYS = 366 * 29
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class UnsupportedSchedule(ValueError):
    """A schedule kind whose fire time is not defined here (e.g. `solar`)."""


def run_every(schedule: Any) -> timedelta | None:
    """The period of an interval schedule, None for any other kind."""
    if isinstance(schedule, interval_schedule) and not isinstance(schedule, crontab):
        period: timedelta = schedule.run_every
        return period
    return None


def interval_slot(period: timedelta, now: datetime) -> datetime:
    """Start of the epoch-aligned slot of length `period` that `now` (aware) falls in, in UTC."""
    step = period.total_seconds()
    if step <= 0:
        raise UnsupportedSchedule(f"an interval of {step} s has no slots")
    elapsed = (now.astimezone(UTC) - _EPOCH).total_seconds()
    return _EPOCH + timedelta(seconds=math.floor(elapsed / step) * step)


def aligned_is_due(period: timedelta, last_run_at: datetime, now: datetime) -> schedstate:
    """Celery's `(is_due, next_check_s)` for an interval fired at epoch-aligned slot boundaries: due when the
    last run was before the current slot began (so at most once per slot), next check at the next boundary."""
    slot = interval_slot(period, now)
    until_next = (slot + period - now).total_seconds()
    if last_run_at.astimezone(UTC) < slot:
        return schedstate(is_due=True, next=until_next)
    return schedstate(is_due=False, next=until_next)


def _matches_day(cron: crontab, day: date) -> bool:
    # Celery's crontab fires on a day only if month, day of month AND day of week all match (Sunday is 0).
    return (day.month in cron.month_of_year and day.day in cron.day_of_month
            and day.isoweekday() % 7 in cron.day_of_week)


def latest_crontab_boundary(cron: crontab, now: datetime, tz: tzinfo) -> datetime:
    """The latest instant at or before `now` (aware) that `cron` fires at, read in `tz`, returned in UTC."""
    local_now = now.astimezone(tz)
    day = local_now.date()
    for _ in range(_CRONTAB_LOOKBACK_DAYS):
        if _matches_day(cron, day):
            for hour in sorted(cron.hour, reverse=True):
                for minute in sorted(cron.minute, reverse=True):
                    boundary = datetime.combine(day, time(hour, minute), tzinfo=tz)
                    if day < local_now.date() or (hour, minute) <= (local_now.hour, local_now.minute):
                        return boundary.astimezone(UTC)
        day -= timedelta(days=1)
    raise UnsupportedSchedule(f"{cron!r} has not fired in the last {_CRONTAB_LOOKBACK_DAYS} days")


def fire_time(schedule: Any, now: datetime) -> datetime:
    """The fire time (UTC) that a fire of `schedule` happening at `now` is for (see the module's docstring)."""
    period = run_every(schedule)
    if period is not None:
        return interval_slot(period, now)
    if isinstance(schedule, crontab):
        return latest_crontab_boundary(schedule, now, schedule.tz)
    raise UnsupportedSchedule(f"no fire time is defined for {type(schedule).__name__} schedules")
