"""Churn tasks: retrain the model, keep it in the registry, and score every student."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ml.churn import CheckinHistory, dataset_hash, score_students, train_churn_model
from ml.promotion import should_promote
from taskplatform.core.db import get_engine, utcnow
from taskplatform.core.errors import PermanentError, permanent_on
from taskplatform.core.settings import get_settings
from taskplatform.gym.churn import checkin_arrays, replace_scores
from taskplatform.messaging.celery_app import app
from taskplatform.messaging.task_names import TaskName
from taskplatform.registry.artifacts import load_active, save_artifact
from taskplatform.registry.versions import (
    activate_version,
    active_version,
    record_decision,
    register_version,
    version_id,
)

KIND = "churn"


@app.task(name=TaskName.CHURN_RETRAIN.value, bind=True)
def retrain(self: Any) -> dict[str, Any]:
    """Train on the whole check-in history, promote the model if its AUC is not worse than
    the active one's, and score every student with the active model.

    The reference time is the latest check-in, so unchanged data trains the same model
    (the same content-addressed version): a retry or a second run changes nothing.
    """
    tz = get_settings().tz
    self.report_progress(5, "loading check-ins")
    with get_engine().connect() as connection:
        ids, epochs = checkin_arrays(connection=connection)
    if len(ids) == 0:
        raise PermanentError("no check-ins yet: nothing to train on")
    history = CheckinHistory(aluno_ids=ids, epoch_s=epochs)
    now = datetime.fromtimestamp(int(epochs.max()) + 1, UTC)
    with permanent_on(ValueError):
        model = train_churn_model(history, now=now, tz=tz,
                                  progress=lambda pct, stage: self.report_progress(10 + pct * 7 // 10, stage))

    self.report_progress(80, "saving the model")
    data_hash = dataset_hash(history)
    version = version_id(KIND, data_hash, model.params)
    stored = save_artifact(KIND, version, model.pipeline)
    with get_engine().begin() as connection:
        register_version(connection=connection, kind=KIND, version=version, artifact_key=stored.key,
                         artifact_sha256=stored.sha256,
                         metrics=model.metrics, params=model.params, data_hash=data_hash, task_id=self.request.id)
        active = active_version(connection=connection, kind=KIND)
        if active is not None and active.version == version:
            promoted, reason = False, "unchanged: this version (same data and parameters) is already active"
        else:
            promoted, reason = should_promote(model.metrics, active.metrics if active else None, metric="roc_auc")
            if promoted:
                activate_version(connection=connection, kind=KIND, version=version)
        record_decision(connection=connection, kind=KIND, version=version, decision=reason)

    self.report_progress(85, "scoring students")
    with get_engine().connect() as connection:
        loaded = load_active(KIND, connection=connection)
    assert loaded is not None
    active_name, pipeline = loaded
    scores = score_students(pipeline, history, as_of=now, tz=tz)
    with get_engine().begin() as connection:
        scored = replace_scores(connection=connection, scores=scores, model_version=active_name, scored_at=utcnow())
    return {"version": version, "metrics": model.metrics, "promoted": promoted, "reason": reason,
            "active_version": active_name, "scored_students": scored, "as_of": model.as_of.isoformat()}
