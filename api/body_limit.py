"""Request-size limits without a proxy in front: a plain ASGI middleware.

A body larger than its route's limit is a 413 before it is read whole: at once when `Content-Length` says
so (the body is never read), else as soon as the bytes received pass the limit (chunked bodies). Routes
read their bodies through `receive`, so JSON, raw and multipart bodies are all bounded the same way.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from taskplatform.core.settings import Settings, get_settings


def route_limits(settings: Settings) -> dict[str, int]:
    """Path (or fnmatch pattern) -> largest body in bytes; every other path has `MAX_BODY_BYTES`."""
    return {
        "/checkin/batch": settings.max_body_bytes_checkins,
        "/alunos": settings.max_body_bytes_checkins,  # as many students as check-ins in a batch
        "/treinar": settings.max_body_bytes_training,
        "/prever": settings.max_body_bytes_prediction,
        # one object or an array of them: the array's limit here, a single object's checked by the route (413)
        "/sessions": max(settings.max_body_bytes_sessions, settings.max_body_bytes_sessions_batch),
        "/devices/health": max(settings.max_body_bytes_device_health, settings.max_body_bytes_devices_batch),
        # a corrected body may be any dead letter's, a whole session included
        "/dead-letters/*/replay": max(settings.max_body_bytes, settings.max_body_bytes_sessions),
    }


class BodyTooLarge(HTTPException):
    """Raised from `receive` when the bytes received pass the limit; FastAPI answers it as a 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=_detail(limit))


def too_large(limit: int) -> HTTPException:
    """The 413 a route raises itself for a body over a limit narrower than its path's (a single object in a route
    that also takes arrays): the same answer as the middleware's."""
    return HTTPException(status_code=413, detail=_detail(limit))


def _detail(limit: int) -> str:
    return f"the request body is larger than this route's limit of {limit} bytes"


def _declared_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses such a request before it reaches us
    return None


class BodyLimitMiddleware:
    """413 for bodies over their route's limit (`route_limits`), counted while they stream in."""

    def __init__(self, app: ASGIApp, default: int | None = None, per_route: Mapping[str, int] | None = None) -> None:
        # Starlette builds its middleware stack on the first request: settings are read then, not at import.
        self.app = app
        self.default = get_settings().max_body_bytes if default is None else default
        self.per_route = dict(route_limits(get_settings()) if per_route is None else per_route)

    def limit_for(self, path: str) -> int:
        path = path.rstrip("/") or "/"
        if path in self.per_route:
            return self.per_route[path]
        return next((limit for pattern, limit in self.per_route.items() if "*" in pattern
                     and fnmatch.fnmatchcase(path, pattern)), self.default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = _declared_length(scope["headers"])
        if declared is not None and declared > limit:
            await _send_413(send, limit)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            # raised where no exception handler runs (a middleware reading the body): answer here
            if started:
                raise
            await _send_413(send, limit)


async def _send_413(send: Send, limit: int) -> None:
    body = json.dumps({"detail": _detail(limit)}).encode()
    headers: list[tuple[bytes, bytes]] = [(b"content-type", b"application/json"),
                                          (b"content-length", str(len(body)).encode()), (b"connection", b"close")]
    start: dict[str, Any] = {"type": "http.response.start", "status": 413, "headers": headers}
    await send(start)
    await send({"type": "http.response.body", "body": body})
