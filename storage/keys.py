"""Object keys: every object the platform writes has one deterministic key (idempotent writes)."""

from __future__ import annotations

import re
from datetime import date

_SAFE = re.compile(r"^[A-Za-z0-9._-]+$")


def _segment(value: str, what: str) -> str:
    if not _SAFE.match(value) or value in {".", ".."}:
        raise ValueError(f"{what} {value!r} cannot be part of an object key (letters, digits, '.', '_', '-')")
    return value


def daily_report_chart_key(day: date) -> str:
    return f"reports/daily/{day:%Y/%m/%d}/checkins-per-hour.png"


def model_artifact_key(kind: str, version: str) -> str:
    return f"models/{_segment(kind, 'model kind')}/{_segment(version, 'model version')}/model.joblib"


def model_json_key(kind: str, version: str) -> str:
    """The plain-data form of a model (coefficients as JSON), loaded without unpickling anything."""
    return f"models/{_segment(kind, 'model kind')}/{_segment(version, 'model version')}/model.json"


def session_key(user_id: str, session_uuid: str) -> str:
    """`sessions/{user_id}/{session_uuid}.json`, the seed's layout."""
    return f"sessions/{_segment(user_id, 'user_id')}/{_segment(session_uuid, 'session_uuid')}.json"


def dataset_key(kind: str, data_hash: str) -> str:
    """Training data uploaded for an asynchronous training, named by its content."""
    return f"datasets/{_segment(kind, 'dataset kind')}/{_segment(data_hash, 'dataset hash')}.json"


def model_plot_key(kind: str, version: str) -> str:
    return f"models/{_segment(kind, 'model kind')}/{_segment(version, 'model version')}/predicted-vs-actual.png"
