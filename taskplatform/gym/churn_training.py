"""Churn training: load the check-ins, train, store the artifact, register and decide, score every student.

Apart from `gym/churn.py` because it loads scikit-learn (ml.churn): the API reads scores, never trains.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ml.churn import CheckinHistory, dataset_hash, score_students, train_churn_model
from ml.promotion import should_promote
from taskplatform.core.db import session_scope, utcnow
from taskplatform.core.settings import get_settings
from taskplatform.gym.churn import checkin_arrays, replace_scores
from taskplatform.registry.artifacts import load_active, save_artifact
from taskplatform.registry.flow import Candidate, Decision, register_and_decide
from taskplatform.registry.models import ModelVersion
from taskplatform.registry.versions import version_id

KIND = "churn"

#: (percent, stage) of the run, for a progress report
Progress = Callable[[int, str], None]


class ChurnTrainingError(ValueError):
    """Nothing to train on, or data the model cannot learn from: training again cannot help."""


@dataclass(frozen=True)
class ChurnTrainingOutcome:
    version: str
    metrics: dict[str, float]
    decision: Decision
    active_version: str
    scored_students: int
    as_of: datetime


def promote_if_not_worse(candidate: Candidate, active: ModelVersion | None) -> Decision:
    """Churn's promotion rule: the candidate replaces the active model when its AUC is not worse."""
    if active is not None and active.version == candidate.version:
        return Decision(False, "unchanged: this version (same data and parameters) is already active")
    return Decision(*should_promote(candidate.metrics, active.metrics if active else None, metric="roc_auc"))


def retrain_and_score(*, task_id: str | None, progress: Progress) -> ChurnTrainingOutcome:
    """Train on the whole check-in history, promote the model if its AUC is not worse than the active one's,
    and score every student with the active model.

    The reference time is the latest check-in, so unchanged data trains the same model (the same
    content-addressed version): a retry or a second run changes nothing. Each database step is its own short
    transaction: none stays open while a model trains or an artifact travels.
    """
    tz = get_settings().tz
    progress(5, "loading check-ins")
    with session_scope() as session:
        ids, epochs = checkin_arrays(session=session)
    if len(ids) == 0:
        raise ChurnTrainingError("no check-ins yet: nothing to train on")
    history = CheckinHistory(aluno_ids=ids, epoch_s=epochs)
    now = datetime.fromtimestamp(int(epochs.max()) + 1, UTC)
    try:
        model = train_churn_model(history, now=now, tz=tz,
                                  progress=lambda pct, stage: progress(10 + pct * 7 // 10, stage))
    except ValueError as exc:
        raise ChurnTrainingError(str(exc)) from exc

    progress(80, "saving the model")
    data_hash = dataset_hash(history)
    version = version_id(KIND, data_hash, model.params)
    candidate = Candidate(kind=KIND, version=version, stored=save_artifact(KIND, version, model.pipeline),
                          metrics=model.metrics, params=model.params, data_hash=data_hash, task_id=task_id)
    with session_scope() as session:
        decision = register_and_decide(session=session, candidate=candidate, rule=promote_if_not_worse)

    progress(85, "scoring students")
    with session_scope() as session:
        loaded = load_active(KIND, session=session)
    assert loaded is not None
    active_name, pipeline = loaded
    scores = score_students(pipeline, history, as_of=now, tz=tz)
    with session_scope() as session:
        scored = replace_scores(session=session, scores=scores, model_version=active_name, scored_at=utcnow())
    return ChurnTrainingOutcome(version=version, metrics=model.metrics, decision=decision,
                                active_version=active_name, scored_students=scored, as_of=model.as_of)


def outcome_fields(outcome: ChurnTrainingOutcome) -> dict[str, Any]:
    """The outcome as plain data (a task's result)."""
    return {"version": outcome.version, "metrics": outcome.metrics, "promoted": outcome.decision.activated,
            "reason": outcome.decision.reason, "active_version": outcome.active_version,
            "scored_students": outcome.scored_students, "as_of": outcome.as_of.isoformat()}
