"""Report tasks: the daily attendance report (nightly from beat, and on demand)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from ml.attendance import build_daily_report, hourly_chart_png
from storage.keys import daily_report_chart_key
from taskplatform.core.db import session_scope
from taskplatform.core.object_store import put_bytes
from taskplatform.core.settings import get_settings
from taskplatform.gym.reports import (
    count_checkins,
    count_new_students,
    day_checkins,
    local_day_bounds,
    upsert_daily_report,
)
from taskplatform.messaging.celery_app import app
from taskplatform.messaging.task_names import TaskName


@app.task(name=TaskName.REPORTS_DAILY.value, bind=True)
def daily(self: Any, data: str | None = None) -> dict[str, Any]:
    """Build, chart and store the report of `data` (YYYY-MM-DD; default: today in TIMEZONE).

    Idempotent: the chart goes to a key named by the date and the row is upserted by date,
    so a retry or a second beat firing leaves one report. Each stage is a progress point (a cancel stops it there).
    """
    tz = get_settings().tz
    day = date.fromisoformat(data) if data else datetime.now(tz).date()
    start, end = local_day_bounds(day, tz)
    week_start, week_end = local_day_bounds(date.fromordinal(day.toordinal() - 7), tz)
    self.report_progress(10, "reading check-ins")
    with session_scope() as session:
        checkins = day_checkins(session=session, start=start, end=end)
        new_students = count_new_students(session=session, start=start, end=end)
        previous = count_checkins(session=session, start=week_start, end=week_end)
    report = build_daily_report(day=day, tz=tz, checkins=checkins, new_students=new_students,
                                previous_week_total=previous)
    self.report_progress(50, "drawing the chart")
    chart_key = daily_report_chart_key(day)
    put_bytes(chart_key, hourly_chart_png(report), "image/png")
    self.report_progress(90, "saving the report")
    with session_scope() as session:
        upsert_daily_report(session=session, day=day, content=report, chart_key=chart_key,
                            task_id=self.request.id)
    return {"data": day.isoformat(), "total_checkins": report["total_checkins"],
            "distinct_students": report["distinct_students"]}
