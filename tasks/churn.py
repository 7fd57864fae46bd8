"""Churn tasks: retrain the model, keep it in the registry, and score every student."""

from __future__ import annotations

from typing import Any

from taskplatform.core.errors import permanent_on
from taskplatform.gym.churn_training import ChurnTrainingError, outcome_fields, retrain_and_score
from taskplatform.messaging.celery_app import app
from taskplatform.messaging.task_names import TaskName


@app.task(name=TaskName.CHURN_RETRAIN.value, bind=True)
def retrain(self: Any) -> dict[str, Any]:
    """Retrain on the whole check-in history, promote when not worse, and score every student."""
    with permanent_on(ChurnTrainingError):
        outcome = retrain_and_score(task_id=self.request.id, progress=self.report_progress)
    return outcome_fields(outcome)
