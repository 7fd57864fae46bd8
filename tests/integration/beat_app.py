"""The platform's Celery app for a test beat: the nightly report entry, firing every TEST_BEAT_EVERY seconds
for the date TEST_BEAT_DATE instead of at 23:55 for today (`celery -A tests.integration.beat_app beat`)."""

from __future__ import annotations

import os

from taskplatform.gym.schedule import GYM_SCHEDULE as BEAT_SCHEDULE
from taskplatform.messaging.celery_app import app

app.conf.beat_schedule = {
    "daily-report": {**BEAT_SCHEDULE["daily-report"], "schedule": float(os.environ["TEST_BEAT_EVERY"]),
                     "kwargs": {"data": os.environ["TEST_BEAT_DATE"]}},
}

__all__ = ["app"]
