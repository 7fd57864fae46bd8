"""The Celery application of the platform."""

from __future__ import annotations

from celery import Celery

#: Task modules, listed explicitly (no autodiscovery).
TASK_MODULES = [
    "tasks.checkins",
    "tasks.reports",
    "tasks.maintenance",
    "tasks.churn",
    "tasks.devices",
    "tasks.sessions",
    "tasks.housing",
    "tasks.textgen",
    "tasks.dead_letters",
]

app = Celery("taskplatform", task_cls="taskplatform.ledger.tracked_task:TrackedTask", include=TASK_MODULES)
app.config_from_object("celeryconfig")

import taskplatform.ledger.signals  # noqa: E402,F401  (connects the lifecycle handlers)
