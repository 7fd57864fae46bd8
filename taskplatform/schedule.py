"""The nightly jobs celery beat runs, in TIMEZONE (idempotent per date: a second firing is harmless)."""

from __future__ import annotations

from typing import Any

from celery.schedules import crontab

BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    # The day's report, just before the day ends.
    "daily-report": {"task": "reports.daily", "schedule": crontab(hour=23, minute=55)},
    # After the report, once the day's check-ins are in.
    "churn-retrain": {"task": "churn.retrain", "schedule": crontab(hour=0, minute=30)},
    # Retention of the ledger and of replayed dead letters, in the quiet hours.
    "purge-expired": {"task": "maintenance.purge_expired", "schedule": crontab(hour=4, minute=10)},
}

#: Redis only (celeryconfig adds it): publish again the tasks whose message a killed worker took.
REDELIVERY_SCHEDULE: dict[str, dict[str, Any]] = {
    "redeliver-lost": {"task": "maintenance.redeliver_lost", "schedule": 120.0},
}
