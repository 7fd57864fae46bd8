"""Model artifacts in the object store, loaded once per process and reloaded on a new version."""

from __future__ import annotations

import io
import threading
from typing import Any

import joblib
from sqlalchemy import Connection

from storage.keys import model_artifact_key
from taskplatform.model_registry import active_version
from taskplatform.object_store import get_bytes, put_bytes

_cache: dict[str, tuple[str, Any]] = {}
_lock = threading.Lock()


def save_artifact(kind: str, version: str, model: Any) -> str:
    buffer = io.BytesIO()
    joblib.dump(model, buffer, compress=3)
    key = model_artifact_key(kind, version)
    put_bytes(key, buffer.getvalue(), "application/octet-stream")
    return key


def load_artifact(key: str) -> Any:
    # joblib is pickle: only artifacts this platform wrote to its own bucket are loaded.
    body = get_bytes(key)
    if body is None:
        raise FileNotFoundError(f"model artifact {key} is missing from the object store")
    return joblib.load(io.BytesIO(body))


def load_active(kind: str, *, connection: Connection) -> tuple[str, Any] | None:
    """(version, model) of the active version of `kind`, cached per process until it changes."""
    active = active_version(connection=connection, kind=kind)
    if active is None:
        return None
    with _lock:
        cached = _cache.get(kind)
        if cached is not None and cached[0] == active.version:
            return cached
        model = load_artifact(active.artifact_key)
        _cache[kind] = (active.version, model)
        return active.version, model
