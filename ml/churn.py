"""Churn model for gym students: time-based training, held-out evaluation and per-student risk with reasons."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from ml.churn_features import FEATURES, CheckinHistory, churn_labels, dataset_hash, local_seconds, student_features

__all__ = [
    "FEATURES", "ChurnScore", "CheckinHistory", "TrainedChurnModel", "churn_labels", "dataset_hash", "local_seconds",
    "precision_at_top", "score_students", "student_features", "train_churn_model",
]

MIN_STUDENTS = 50
MIN_PER_CLASS = 5
MODEL_PARAMS: dict[str, Any] = {"C": 1.0, "max_iter": 1000, "solver": "lbfgs"}
MAX_REASONS = 3


@dataclass(frozen=True)
class TrainedChurnModel:
    pipeline: Any
    metrics: dict[str, float]
    params: dict[str, Any]
    as_of: datetime


@dataclass(frozen=True)
class ChurnScore:
    aluno_id: int
    probability: float
    reasons: list[str]


def signed_log1p(x: np.ndarray) -> np.ndarray:
    """Compress the long tails (a student gone 150 days is not 5x as gone as one gone 30) while keeping the sign."""
    return np.sign(x) * np.log1p(np.abs(x))


def build_pipeline(seed: int) -> Pipeline:
    # module-level transform function, so joblib pickles it by reference
    return Pipeline([
        ("log", FunctionTransformer(signed_log1p)),
        ("scale", StandardScaler()),
        ("model", LogisticRegression(random_state=seed, **MODEL_PARAMS)),
    ])


def precision_at_top(y_true: np.ndarray, risk: np.ndarray, share: float = 0.1) -> float:
    """Share of actual churners among the top `share` of students by predicted risk (at least one student)."""
    k = max(1, math.ceil(share * len(y_true)))
    top = np.argsort(-risk, kind="stable")[:k]
    return float(np.mean(np.asarray(y_true)[top]))


def train_churn_model(history: CheckinHistory, *, now: datetime, tz: ZoneInfo, horizon_days: int = 30,
                      test_share: float = 0.25, seed: int = 0,
                      progress: Callable[[int, str], None] | None = None) -> TrainedChurnModel:
    """Fit on features before `now - horizon_days` and labels from the following `horizon_days`, scored on held-out
    students. The returned pipeline is the one fitted on the training students, so the metrics describe it exactly."""
    if horizon_days < 1:
        raise ValueError("horizon_days must be at least 1")
    if not 0.0 < test_share < 1.0:
        raise ValueError("test_share must be between 0 and 1")
    report = progress or (lambda _percent, _stage: None)
    as_of = now - timedelta(days=horizon_days)

    report(0, "features")
    ids, x = student_features(history, as_of=as_of, tz=tz)
    if ids.size < MIN_STUDENTS:
        raise ValueError(f"too little data to train a churn model: {ids.size} students have check-ins before "
                         f"{as_of.isoformat()}, at least {MIN_STUDENTS} are needed")
    y = churn_labels(history, aluno_ids=ids, as_of=as_of, horizon_days=horizon_days)
    positives = int(y.sum())
    if min(positives, y.size - positives) < MIN_PER_CLASS:
        raise ValueError(f"too little data to train a churn model: {positives} of {y.size} students left in the "
                         f"{horizon_days} days after {as_of.isoformat()}; both classes need at least {MIN_PER_CLASS}")
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=test_share, stratify=y, random_state=seed)

    report(35, "training")
    pipeline = build_pipeline(seed).fit(x_train, y_train)

    report(80, "evaluating")
    risk = pipeline.predict_proba(x_test)[:, 1]
    metrics = {
        "roc_auc": float(roc_auc_score(y_test, risk)),
        "precision_top10": precision_at_top(y_test, risk, 0.1),
        "n_train": float(y_train.size),
        "n_test": float(y_test.size),
        "positive_rate": float(y.mean()),
    }
    params = {
        "horizon_days": horizon_days, "as_of": as_of.isoformat(), "now": now.isoformat(), "tz": str(tz),
        "test_share": test_share, "seed": seed, "model": "LogisticRegression", "model_params": dict(MODEL_PARAMS),
        "transform": "signed_log1p + StandardScaler", "features": list(FEATURES), "n_students": int(ids.size),
        "n_checkins": len(history), "dataset_sha256": dataset_hash(history), "sklearn": sklearn.__version__,
    }
    report(100, "evaluating")
    return TrainedChurnModel(pipeline=pipeline, metrics=metrics, params=params, as_of=as_of)


def _days(value: float) -> str:
    days = round(value)
    return f"{days} day" if days == 1 else f"{days} days"


def _visits(value: float) -> str:
    count = round(value)
    return f"{count} visit" if count == 1 else f"{count} visits"


def _recent_visits(v: dict[str, float], *, low_count_is_reason: bool) -> str | None:
    last, prev = round(v["visits_last_4w"]), round(v["visits_prev_4w"])
    if last == 0 and prev == 0:
        return "no visits in the last 8 weeks"
    if last < prev:
        return f"visits fell from {prev} to {last} in the last 4 weeks"
    return f"only {_visits(last)} in the last 4 weeks" if low_count_is_reason else None


def _overdue(v: dict[str, float]) -> str:
    ratio = v["overdue_ratio"]
    times = f"{ratio:.0f}" if ratio >= 10 else f"{ratio:.1f}"
    return f"no check-in for {_days(v['days_since_last'])}, {times}x their usual gap of {_days(v['gap_mean_days'])}"


# Phrases return None when the value cannot be told as a reason in words (e.g. a growing visit count).
_PHRASES: dict[str, Callable[[dict[str, float]], str | None]] = {
    "days_since_last": lambda v: f"no check-in for {_days(v['days_since_last'])}",
    "visits_last_4w": lambda v: _recent_visits(v, low_count_is_reason=True),
    "visits_prev_4w": lambda v: _recent_visits(v, low_count_is_reason=False),
    "visit_trend": lambda v: _recent_visits(v, low_count_is_reason=False),
    "tenure_days": lambda v: f"member for only {_days(v['tenure_days'])}" if v["tenure_days"] < 90 else None,
    "visits_per_week": lambda v: f"averages only {v['visits_per_week']:.1f} visits a week",
    "top_weekday_share": lambda v: f"no fixed training day (top weekday has {v['top_weekday_share']:.0%} of visits)",
    "hour_std": lambda v: f"irregular visit times (hour varies by ±{v['hour_std']:.1f} h)",
    "gap_mean_days": lambda v: f"usually {_days(v['gap_mean_days'])} between visits",
    "gap_std_days": lambda v: f"uneven gaps between visits (±{_days(v['gap_std_days'])})",
    "overdue_ratio": _overdue,
}
# Sentences on the same topic repeat the same numbers; one per topic is enough.
_TOPIC = {"days_since_last": "recency", "overdue_ratio": "recency", "visits_last_4w": "recent",
          "visits_prev_4w": "recent", "visit_trend": "recent"}
# +1: a higher value means more risk in plain terms. Correlated features can get a coefficient of the other sign
# (e.g. visits_last_4w next to visit_trend); such a push is a modelling artefact, not a reason a person would accept.
RISK_DIRECTION: dict[str, int] = {
    "days_since_last": 1, "visits_last_4w": -1, "visits_prev_4w": -1, "visit_trend": -1, "tenure_days": -1,
    "visits_per_week": -1, "top_weekday_share": -1, "hour_std": 1, "gap_mean_days": 1, "gap_std_days": 1,
    "overdue_ratio": 1,
}
_DIRECTION = np.array([RISK_DIRECTION[name] for name in FEATURES])


def _explain(pipeline: Any, x: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(transformed X, coefficients) of a linear final step; None when the model is not linear."""
    final = pipeline[-1] if isinstance(pipeline, Pipeline) else pipeline
    coef = getattr(final, "coef_", None)
    if coef is None or np.ndim(coef) != 2 or coef.shape[0] != 1 or coef.shape[1] != x.shape[1]:
        return None
    transformed = pipeline[:-1].transform(x) if isinstance(pipeline, Pipeline) and len(pipeline) > 1 else x
    return np.asarray(transformed, dtype=np.float64), np.asarray(coef[0], dtype=np.float64)


def _reasons(values: np.ndarray, standardized: np.ndarray, coef: np.ndarray) -> list[str]:
    """Up to MAX_REASONS sentences for the features pushing this student's log-odds up most (coef × standardized)."""
    named = dict(zip(FEATURES, values.tolist(), strict=True))
    pushes = standardized * coef
    reasons: list[str] = []
    topics: set[str] = set()
    for j in np.argsort(-pushes, kind="stable"):
        if pushes[j] <= 0 or len(reasons) == MAX_REASONS:
            break
        name = FEATURES[j]
        topic = _TOPIC.get(name, name)
        if standardized[j] * _DIRECTION[j] <= 0 or topic in topics:
            continue
        text = _PHRASES[name](named)
        if text is not None:
            reasons.append(text)
            topics.add(topic)
    return reasons


def score_students(pipeline: Any, history: CheckinHistory, *, as_of: datetime, tz: ZoneInfo) -> list[ChurnScore]:
    """Churn probability for every student with a check-in before `as_of`, riskiest first, with up to 3 reasons."""
    ids, x = student_features(history, as_of=as_of, tz=tz)
    if ids.size == 0:
        return []
    risk = pipeline.predict_proba(x)[:, 1]
    explained = _explain(pipeline, x)
    order = np.lexsort((ids, -risk))
    return [ChurnScore(aluno_id=int(ids[i]), probability=float(risk[i]),
                       reasons=[] if explained is None else _reasons(x[i], explained[0][i], explained[1]))
            for i in order]
