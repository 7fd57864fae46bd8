"""The access check on every request, as plain ASGI middleware (see `AccessMiddleware`)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import limits
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from api.auth.credentials import READ, Credential, Verifier
from api.auth.policy import Outcome, decide

HEADER = "X-API-Key"
REALM = 'realm="taskplatform"'
#: Where a console page sends a browser that has not signed in.
CONSOLE_SIGN_IN = "/painel/entrar"
#: Reads the console's session from a request's cookies (None: no valid session).
ConsoleSessionReader = Callable[[Mapping[str, str]], Credential | None]


class PublicRateLimit:
    """Anonymous generations per client address, counted in this process only (a moving window)."""

    def __init__(self, rate: str) -> None:
        self._rate = limits.parse(rate)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def retry_after(self, client: str) -> int | None:
        """None if this call is within the limit, else the seconds until the next one would be."""
        if self._limiter.hit(self._rate, client):
            return None
        reset = self._limiter.get_window_stats(self._rate, client).reset_time
        return max(1, math.ceil(reset - time.time()))


def route_path(scope: Scope) -> str:
    """The path the routes see: without the `root_path` a proxy mounted the API under (as Starlette does)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return (path[len(root):] or "/") if root and path.startswith(root) else path


def shows_details(scope: Mapping[str, Any]) -> bool:
    """Whether this request may see details (e.g. `/status`'s): auth is off, or the caller may read.

    False when the middleware did not run: a missing mark never opens anything.
    """
    state = scope.get("state") or {}
    if "auth_configured" not in state:
        return False
    return not state["auth_configured"] or READ in state.get("credential_scopes", ())


class AccessMiddleware:
    """Let a request through only with the credential its path and method need (see `api.auth.policy`).

    Refusals are 401 (no or bad credential, with `WWW-Authenticate`), 403 (valid but without the scope)
    or 429 (anonymous text generation over its rate). The caller's stable id goes to
    `scope["state"]["credential_id"]` for later steps (idempotency keys are scoped by it).

    Plain ASGI rather than an app-wide FastAPI dependency: it runs on every request, and resolving
    a dependency cost each request about 90 us, a fifth of a one-row `/prever`.
    """

    def __init__(self, app: ASGIApp, *, verifier: Verifier, textgen_public: bool = False,
                 textgen_public_rate: str = "10/minute", console_session: ConsoleSessionReader | None = None) -> None:
        self.app = app
        self.console_session = console_session
        self.verifier = verifier
        self.textgen_public = textgen_public
        self.rate_limit = PublicRateLimit(textgen_public_rate)
        self.challenge = f"{HEADER} {REALM}" + (f", Bearer {REALM}" if verifier.accepts_jwt else "")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not self.verifier.configured and not self.textgen_public:  # `make up`'s default: nothing to check
            scope.setdefault("state", {})["auth_configured"] = False
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        state = scope.setdefault("state", {})
        # The console's cookie counts on `/painel/*` only (`api.console.proxy` marks those requests): anywhere
        # else a browser's ambient cookie must not authorize anything.
        console = state.get("console")
        session = self.console_session(cookie_parser(headers.get("cookie", ""))) \
            if console and self.console_session is not None else None
        decision = decide(self.verifier, method=scope["method"], path=route_path(scope), api_key=headers.get(HEADER),
                          authorization=headers.get("authorization"), textgen_public=self.textgen_public,
                          console_session=session)
        state["auth_configured"] = self.verifier.configured
        if decision.credential is not None:
            state["credential_id"] = decision.credential.id
            state["credential_scopes"] = decision.credential.scopes
        refusal: Response | None = None
        if decision.outcome is Outcome.UNAUTHORIZED and console == "page" and scope["method"] in ("GET", "HEAD"):
            refusal = RedirectResponse(f"{scope.get('root_path', '')}{CONSOLE_SIGN_IN}", status_code=303)
        elif decision.outcome is Outcome.UNAUTHORIZED:
            refusal = JSONResponse({"detail": f"{decision.reason}: send {HEADER} or Authorization: Bearer <JWT>"},
                                   status_code=401, headers={"WWW-Authenticate": self.challenge})
        elif decision.outcome is Outcome.FORBIDDEN:
            refusal = JSONResponse({"detail": decision.reason}, status_code=403)
        elif decision.outcome is Outcome.RATE_LIMITED:
            client = scope.get("client")
            wait = self.rate_limit.retry_after(client[0] if client else "unknown")
            if wait is not None:
                refusal = JSONResponse({"detail": f"anonymous rate limit reached; retry in {wait} s"},
                                       status_code=429, headers={"Retry-After": str(wait)})
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)
