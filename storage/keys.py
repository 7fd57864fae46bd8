"""Object keys: every object the platform writes has one deterministic key (idempotent writes)."""

from __future__ import annotations

import re
from datetime import date

_SAFE = re.compile(r"[A-Za-z0-9._-]+")
#: S3 (and SeaweedFS, Garage, MinIO) refuse object keys longer than this many bytes.
MAX_KEY_BYTES = 1024


def _segment(value: str, what: str) -> str:
    # fullmatch: `$` would also match before a trailing newline ("abc\n")
    if not _SAFE.fullmatch(value) or value in {".", ".."}:
        shown = value if len(value) <= 60 else value[:60] + "..."
        raise ValueError(f"{what} {shown!r} cannot be part of an object key (letters, digits, '.', '_', '-')")
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
    key = f"sessions/{_segment(user_id, 'user_id')}/{_segment(session_uuid, 'session_uuid')}.json"
    if len(key) > MAX_KEY_BYTES:  # segments are ASCII: characters are bytes
        raise ValueError(f"user_id and session_uuid make a key of {len(key)} bytes; the object store takes at most "
                         f"{MAX_KEY_BYTES}")
    return key


def dataset_key(kind: str, data_hash: str) -> str:
    """Training data uploaded for an asynchronous training, named by its content."""
    return f"datasets/{_segment(kind, 'dataset kind')}/{_segment(data_hash, 'dataset hash')}.json"


def model_plot_key(kind: str, version: str) -> str:
    return f"models/{_segment(kind, 'model kind')}/{_segment(version, 'model version')}/predicted-vs-actual.png"
