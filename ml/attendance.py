"""The daily attendance report, computed from one day's check-ins (pure, no I/O)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

# A Figure, never pyplot: it renders with Agg without a backend chosen for the whole process (no matplotlib.use).
# Imported at the top so a worker's parent loads it once, before forking.
from matplotlib.figure import Figure


def build_daily_report(*, day: date, tz: ZoneInfo, checkins: Sequence[tuple[int, datetime]], new_students: int,
                       previous_week_total: int) -> dict[str, Any]:
    """The report of `day` (a local date in `tz`) from that day's (student, aware instant) pairs.

    `previous_week_total` is the count of the same weekday one week earlier, for the change.
    """
    per_hour = [0] * 24
    students: set[int] = set()
    first: datetime | None = None
    last: datetime | None = None
    for aluno_id, instant in checkins:
        local = instant.astimezone(tz)
        if local.date() != day:
            raise ValueError(f"check-in at {local.isoformat()} is not on {day.isoformat()} in {tz.key}")
        per_hour[local.hour] += 1
        students.add(aluno_id)
        first = local if first is None or local < first else first
        last = local if last is None or local > last else last
    total = len(checkins)
    busiest = max(range(24), key=lambda hour: (per_hour[hour], -hour)) if total else None
    change = total - previous_week_total
    return {
        "data": day.isoformat(),
        "timezone": tz.key,
        "total_checkins": total,
        "distinct_students": len(students),
        "checkins_per_hour": {f"{hour:02d}": count for hour, count in enumerate(per_hour)},
        "busiest_hour": None if busiest is None else f"{busiest:02d}:00",
        "busiest_hour_checkins": 0 if busiest is None else per_hour[busiest],
        "first_checkin": first.isoformat() if first else None,
        "last_checkin": last.isoformat() if last else None,
        "new_students": new_students,
        "same_weekday_last_week": {
            "data": date.fromordinal(day.toordinal() - 7).isoformat(),
            "total_checkins": previous_week_total,
            "change": change,
            "change_percent": None if previous_week_total == 0 else round(100 * change / previous_week_total, 1),
        },
    }


def hourly_chart_png(report: dict[str, Any]) -> bytes:
    """A bar chart of check-ins per hour, as PNG bytes."""
    hours = list(report["checkins_per_hour"])
    counts = [report["checkins_per_hour"][h] for h in hours]
    figure = Figure(figsize=(10, 4), dpi=100)
    axes = figure.add_subplot()
    axes.bar(hours, counts, color="#2a7ab0")
    axes.set_title(f"Check-ins per hour, {report['data']} ({report['timezone']}): {report['total_checkins']} in all")
    axes.set_xlabel("hour")
    axes.set_ylabel("check-ins")
    axes.grid(axis="y", alpha=0.3)
    figure.subplots_adjust(left=0.07, right=0.98, bottom=0.13, top=0.9)  # fixed: tight_layout draws twice
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
