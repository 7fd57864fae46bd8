"""The Celery application of the platform."""

from __future__ import annotations

from celery import Celery

from taskplatform.ledger.final_states_step import FinalStatesStep
from taskplatform.messaging.liveness_step import LivenessStep

# The task modules are listed in celeryconfig.py (`include`): the platform names no domain.
app = Celery("taskplatform", task_cls="taskplatform.ledger.tracked_task:TrackedTask")
app.config_from_object("celeryconfig")
# Records consumption progress for the liveness probe (python -m taskplatform.messaging.liveness_probe).
app.steps["consumer"].add(LivenessStep)
# Short tasks' SUCCESS in batches from the main process (taskplatform/ledger/final_states.py).
app.steps["worker"].add(FinalStatesStep)

import taskplatform.ledger.signals  # noqa: E402,F401  (connects the lifecycle handlers)
import taskplatform.messaging.worker_profiles  # noqa: E402,F401  (chooses the prefetch by queues)
