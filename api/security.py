"""API-key check for mutating endpoints (enabled when API_KEYS is set)."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader

from taskplatform.settings import get_settings

_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False,
                               description="Required on POST/PUT/PATCH/DELETE when API_KEYS is set.")
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def require_api_key(request: Request, api_key: Annotated[str | None, Security(_api_key_header)]) -> None:
    """Refuse a mutating request without a valid `X-API-Key` when keys are configured.

    `async` on purpose: it does no I/O, and a sync dependency costs every request a thread hop.
    """
    keys = get_settings().api_key_set()
    if not keys or request.method in _SAFE_METHODS:
        return
    if api_key is None or not any(hmac.compare_digest(api_key.encode(), key.encode()) for key in keys):
        raise HTTPException(status_code=status.HTTP_401_UNAUTHORIZED, detail="missing or invalid X-API-Key",
                            headers={"WWW-Authenticate": "X-API-Key"})
