"""Every task name of the platform, declared once.

The task decorators, the routers (which enqueue by name, so the API never imports the worker
side), the beat schedule, the dead-letter replay and the queue routes all use these members.
Each value is the name on the wire (`<domain>.<verb>`, routed by its domain in
`taskplatform.messaging.queues`); changing one renames a task for every message already queued, every
ledger record and every dashboard. Nothing heavy is imported here (no Celery).

Celery is always handed `.value`, a plain str, never the member: Celery takes anything with a
`.name` attribute for a task object, and a member's `.name` is "REPORTS_DAILY", so
`app.signature(TaskName.REPORTS_DAILY)` would publish a task named "REPORTS_DAILY". Beat also
pickles its entries into its schedule file, which a member would tie to this module's path.
tests/unit/test_task_names.py checks that every use outside this module takes `.value`.
"""

from __future__ import annotations

from enum import StrEnum, unique


@unique
class TaskName(StrEnum):
    CHECKINS_INGEST_BATCH = "checkins.ingest_batch"
    REPORTS_DAILY = "reports.daily"
    CHURN_RETRAIN = "churn.retrain"
    HOUSING_TRAIN = "housing.train"
    HOUSING_PREDICT = "housing.predict"
    TEXTGEN_GENERATE = "textgen.generate"
    SESSIONS_PERSIST = "sessions.persist"
    DEVICES_UPSERT = "devices.upsert"
    DEVICES_UPSERT_MEMBERS = "devices.upsert_members"
    MAINTENANCE_PURGE_EXPIRED = "maintenance.purge_expired"
    MAINTENANCE_REDELIVER_LOST = "maintenance.redeliver_lost"
