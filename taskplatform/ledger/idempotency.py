"""Idempotency keys: who used a key (its scope) and what it was used for (a hash of the request).

Per the IETF Idempotency-Key draft, a key names one request of one client: the same key from
the same credential with the same request returns the first task; with another request it is
refused; another credential's key is another key.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

#: The scope of requests made without a credential (no API_KEYS configured, or an open route).
ANONYMOUS = "anonymous"
#: Longest scope stored as it is; longer credential ids are stored as their hash (the column is 200 wide).
MAX_SCOPE_LENGTH = 200

_BOUNDARY = re.compile(r'boundary="?([^";,]+)"?', re.IGNORECASE)


@dataclass(frozen=True)
class ScopedKey:
    """An `Idempotency-Key` header with the credential that sent it and a hash of its request."""

    key: str
    scope: str
    request_hash: str


class IdempotencyKeyReused(ValueError):
    """The key was already used, by the same credential, for a request with another body."""

    def __init__(self, key: str) -> None:
        super().__init__(f"Idempotency-Key {key!r} was reused with a different request body")
        self.key = key


def idempotency_scope(credential_id: str | None) -> str:
    """The stored scope of a credential id (a stable, non-secret name of the caller)."""
    if not credential_id:
        return ANONYMOUS
    if len(credential_id) <= MAX_SCOPE_LENGTH:
        return credential_id
    return "sha256:" + hashlib.sha256(credential_id.encode()).hexdigest()


def request_hash(*, method: str, path: str, query: Iterable[tuple[str, str]], content_type: str | None,
                 body: bytes) -> str:
    """sha256 of what makes a request: method, path, query parameters (in any order) and body bytes.

    Query parameters are part of it because some change the task (`?data=` of a report,
    `?assincrono=`). A multipart body's boundary is random per request, so a client retrying
    the same upload sends other bytes: the boundary is replaced by a fixed token first.
    """
    digest = hashlib.sha256()
    for part in (method.upper(), path, *(f"{name}={value}" for name, value in sorted(query))):
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    digest.update(b"\0")
    digest.update(_without_boundary(content_type, body))
    return digest.hexdigest()


def _without_boundary(content_type: str | None, body: bytes) -> bytes:
    if not content_type or not content_type.lower().startswith("multipart/"):
        return body
    match = _BOUNDARY.search(content_type)
    if match is None:
        return body
    return body.replace(b"--" + match.group(1).encode("latin-1"), b"--boundary")
