"""The platform's own beat entries, in TIMEZONE; the domains declare theirs (celeryconfig.py joins them)."""

from __future__ import annotations

from typing import Any

from celery.schedules import crontab

from taskplatform.messaging.task_names import TaskName

# `.value` (see taskplatform/messaging/task_names.py), and here for one more reason: beat pickles each entry,
# task name included, into its schedule file (celerybeat-schedule); a pickled member names its
# class's module, and once TaskName moves, beat fails to start on the old file (ModuleNotFoundError,
# which it does not recover from; tried).
PLATFORM_SCHEDULE: dict[str, dict[str, Any]] = {
    # Retention of the ledger and of replayed dead letters, in the quiet hours.
    "purge-expired": {"task": TaskName.MAINTENANCE_PURGE_EXPIRED.value, "schedule": crontab(hour=4, minute=10)},
}

#: Redis only (celeryconfig adds it): publish again the tasks whose message a killed worker took.
REDELIVERY_SCHEDULE: dict[str, dict[str, Any]] = {
    "redeliver-lost": {"task": TaskName.MAINTENANCE_REDELIVER_LOST.value, "schedule": 120.0},
}
