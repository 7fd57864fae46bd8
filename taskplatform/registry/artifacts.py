"""Model artifacts in the object store: stored with their sha256, checked against it before anything is loaded.

joblib is pickle, and unpickling runs code: bytes whose hash is not the one the registry recorded when the
training stored them are refused, never loaded. A model with a plain-data form (JSON coefficients) is loaded
from that form instead, so no pickle is opened at all.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError
from sqlalchemy.orm import Session

from storage.keys import model_artifact_key, model_json_key
from taskplatform.core.errors import PermanentError
from taskplatform.core.object_store import get_bytes, models_location, put_bytes
from taskplatform.core.settings import get_settings
from taskplatform.registry.models import ModelVersion
from taskplatform.registry.versions import active_version

logger = logging.getLogger("taskplatform.registry.artifacts")
#: S3 error codes that mean "not with these credentials": a configuration to fix, not a fault to retry.
DENIED = frozenset({"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403"})

#: A refused version is fetched and hashed again after this many seconds (a repaired store is picked up),
#: not on every request.
REFUSAL_RETRY_S = 10.0

_cache: dict[str, tuple[str, Any]] = {}
_refused: dict[str, tuple[str, float, str]] = {}  # kind -> (version, when, reason)
_warned: set[str] = set()
_lock = threading.Lock()


class ArtifactRefused(PermanentError):
    """A model artifact that cannot be loaded: its bytes are not the ones registered, it is missing, or it has no
    registered hash and MODELS_REQUIRE_SHA256 is set. Retrying cannot help: repair the store or train again."""


class ArtifactWriteDenied(PermanentError):
    """The object store refused to store a model with this process's MODELS_S3_* credentials (read-only ones,
    as the API has in the recommended setup): training belongs on the training workers."""


def _denied(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code")) in DENIED


@dataclass(frozen=True)
class StoredArtifact:
    key: str
    sha256: str
    json_sha256: str | None  # None: the model has no plain-data form


def sha256_hex(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def save_artifact(kind: str, version: str, model: Any, *, plain: Mapping[str, Any] | None = None) -> StoredArtifact:
    """Store the model (joblib) and, when given, its plain-data form (JSON); the hashes go to the registry."""
    import joblib  # only where a model is trained or unpickled: a process that reads JSON forms never loads it

    location = models_location(get_settings())
    buffer = io.BytesIO()
    joblib.dump(model, buffer, compress=3)
    body = buffer.getvalue()
    key = model_artifact_key(kind, version)
    json_sha256 = None
    try:
        put_bytes(key, body, "application/octet-stream", location=location, create_bucket=True)
        if plain is not None:
            document = json.dumps(plain, sort_keys=True, allow_nan=False, separators=(",", ":")).encode()
            put_bytes(model_json_key(kind, version), document, "application/json", location=location,
                      create_bucket=True)
            json_sha256 = sha256_hex(document)
    except ClientError as exc:
        if not _denied(exc):
            raise
        raise ArtifactWriteDenied(f"the object store refused to store model {version} in bucket {location.bucket} "
                                  "with this process's MODELS_S3_* credentials (read-only here?): train "
                                  "asynchronously (?assincrono=true), on the training workers") from exc
    return StoredArtifact(key, sha256_hex(body), json_sha256)


def verified(body: bytes, *, key: str, expected: str | None) -> bytes:
    """`body` if its sha256 is the registered one; ArtifactRefused (logged) otherwise."""
    if expected is None:
        if get_settings().models_require_sha256:
            raise _refuse(f"model artifact {key} has no registered sha256 (trained before migration 0006) and "
                          "MODELS_REQUIRE_SHA256 is set: train the model again")
        if key not in _warned:
            _warned.add(key)
            logger.warning("loading model artifact %s without an integrity check: it has no registered sha256 "
                           "(trained before migration 0006); train it again, then set MODELS_REQUIRE_SHA256", key)
        return body
    actual = sha256_hex(body)
    if not hmac.compare_digest(actual, expected.lower()):
        raise _refuse(f"model artifact {key} failed its integrity check (sha256 mismatch: the registry has "
                      f"{expected}, the object store holds {actual}); it was not loaded")
    return body


def _refuse(reason: str) -> ArtifactRefused:
    logger.error("%s", reason)
    return ArtifactRefused(reason)


def _fetch(key: str) -> bytes:
    location = models_location(get_settings())
    try:
        body = get_bytes(key, location=location)
    except ClientError as exc:
        if not _denied(exc):
            raise
        raise _refuse(f"the object store refused to read model artifact {key} from bucket {location.bucket} with "
                      "this process's MODELS_S3_* credentials") from exc
    if body is None:
        raise _refuse(f"model artifact {key} is missing from the object store (bucket {location.bucket})")
    return body


def load_artifact(key: str, *, sha256: str | None) -> Any:
    """Unpickle the artifact at `key`, only after its bytes matched `sha256`."""
    import joblib

    return joblib.load(io.BytesIO(verified(_fetch(key), key=key, expected=sha256)))


def _load(kind: str, active: ModelVersion, decode_json: Callable[[Any], Any] | None) -> Any:
    if decode_json is not None and active.json_sha256:
        key = model_json_key(kind, active.version)
        body = verified(_fetch(key), key=key, expected=active.json_sha256)
        try:
            return decode_json(json.loads(body))
        except (ValueError, KeyError, TypeError) as exc:  # its registered hash, yet not a model: refuse, not a 500
            raise _refuse(f"model artifact {key} matches its sha256 but is not a valid model: {exc}") from exc
    if not get_settings().models_unpickle:
        raise _refuse(f"model {active.version} has no JSON form and MODELS_UNPICKLE is false here: this process "
                      "never unpickles a model")
    return load_artifact(active.artifact_key, sha256=active.artifact_sha256)


def load_active(kind: str, *, session: Session,
                decode_json: Callable[[Any], Any] | None = None) -> tuple[str, Any] | None:
    """(version, model) of the active version of `kind`, cached per process until it changes.

    `decode_json` builds the model from its plain-data form, preferred to the pickle when the version has one.
    ArtifactRefused when the bytes are missing or not the registered ones (the same answer, without a new
    download, for REFUSAL_RETRY_S).
    """
    active = active_version(session=session, kind=kind)
    if active is None:
        return None
    with _lock:
        cached = _cache.get(kind)
        if cached is not None and cached[0] == active.version:
            return cached
        refused = _refused.get(kind)
        if refused is not None and refused[0] == active.version and time.monotonic() - refused[1] < REFUSAL_RETRY_S:
            raise ArtifactRefused(refused[2])
        try:
            model = _load(kind, active, decode_json)
        except ArtifactRefused as exc:
            _refused[kind] = (active.version, time.monotonic(), str(exc))
            raise
        _refused.pop(kind, None)
        _cache[kind] = (active.version, model)
        return active.version, model
