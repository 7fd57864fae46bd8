"""The gym's nightly jobs, in TIMEZONE (idempotent per date: a second firing is harmless)."""

from __future__ import annotations

from typing import Any

from celery.schedules import crontab

from taskplatform.messaging.task_names import TaskName

# Task names as `.value`: see taskplatform/messaging/schedule.py.
GYM_SCHEDULE: dict[str, dict[str, Any]] = {
    # The day's report, just before the day ends.
    "daily-report": {"task": TaskName.REPORTS_DAILY.value, "schedule": crontab(hour=23, minute=55)},
    # After the report, once the day's check-ins are in.
    "churn-retrain": {"task": TaskName.CHURN_RETRAIN.value, "schedule": crontab(hour=0, minute=30)},
}
