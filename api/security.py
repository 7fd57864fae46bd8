"""API-key check for mutating endpoints (enabled when API_KEYS is set)."""

from __future__ import annotations

import hmac
from typing import Any

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from taskplatform.settings import get_settings

HEADER = "X-API-Key"
SCHEME = "APIKeyHeader"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def key_is_valid(given: str | None, keys: frozenset[str]) -> bool:
    return given is not None and any(hmac.compare_digest(given.encode(), key.encode()) for key in keys)


class ApiKeyMiddleware:
    """Refuse a mutating request without a valid `X-API-Key` when keys are configured (401, like HTTPException).

    Plain ASGI rather than an app-wide FastAPI dependency: it runs on every request, and resolving
    a dependency cost each request about 90 us, a fifth of a one-row `/prever`.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in _SAFE_METHODS:
            keys = get_settings().api_key_set()
            if keys and not key_is_valid(Headers(scope=scope).get(HEADER), keys):
                refusal = JSONResponse({"detail": f"missing or invalid {HEADER}"}, status_code=401,
                                       headers={"WWW-Authenticate": HEADER})
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)


def document_api_key(schema: dict[str, Any]) -> dict[str, Any]:
    """Mark every mutating operation of an OpenAPI schema as needing the key, as the middleware enforces."""
    schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
    schemes[SCHEME] = {"type": "apiKey", "in": "header", "name": HEADER,
                       "description": "Required on POST/PUT/PATCH/DELETE when API_KEYS is set."}
    for operations in schema.get("paths", {}).values():
        for method, operation in operations.items():
            if method.upper() not in _SAFE_METHODS and isinstance(operation, dict):
                operation["security"] = [{SCHEME: []}]
                operation.setdefault("responses", {}).setdefault(
                    "401", {"description": f"missing or invalid {HEADER} (when API_KEYS is set)"})
    return schema
