"""The body-size middleware in process: which limit a path gets, and a 413 before the body is read whole."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from api.body_limit import BodyLimitMiddleware, route_limits
from taskplatform.core.settings import Settings


class Echo:
    """An app that reads the whole body and says how much it got; counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls += 1
        body = await Request(scope, receive).body()
        await JSONResponse({"bytes": len(body)})(scope, receive, send)


def _post(app: BodyLimitMiddleware, content: bytes | AsyncIterator[bytes], path: str = "/small") -> httpx.Response:
    async def call() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            return await client.post(path, content=content)

    return asyncio.run(call())


async def _chunks(count: int, size: int = 100) -> AsyncIterator[bytes]:
    for _ in range(count):
        yield b"x" * size


def test_a_declared_length_over_the_limit_is_a_413_without_calling_the_route() -> None:
    """Breach: without a proxy, any body was read whole (a 38 MB /checkin/batch was parsed before its check)."""
    echo = Echo()
    app = BodyLimitMiddleware(echo, default=1000, per_route={"/big": 5000})
    response = _post(app, b"x" * 1001)
    assert response.status_code == 413 and "1000 bytes" in response.json()["detail"] and echo.calls == 0
    assert _post(app, b"x" * 1000).json() == {"bytes": 1000}
    assert _post(app, b"x" * 4000, path="/big").json() == {"bytes": 4000}


def test_a_streamed_body_is_cut_off_once_it_passes_the_limit() -> None:
    """Breach: a chunked body (no Content-Length) had no limit at all."""
    echo = Echo()
    app = BodyLimitMiddleware(echo, default=1000)
    assert _post(app, _chunks(11)).status_code == 413
    assert _post(app, _chunks(10)).json() == {"bytes": 1000}


def test_each_limited_route_gets_its_setting() -> None:
    settings = Settings(_env_file=None, max_body_bytes=2048, max_body_bytes_sessions=9999,  # type: ignore[call-arg]
                        max_body_bytes_device_health=4096, max_body_bytes_sessions_batch=1024,
                        max_body_bytes_devices_batch=1024)
    app = BodyLimitMiddleware(Echo(), default=settings.max_body_bytes, per_route=route_limits(settings))
    assert app.limit_for("/sessions") == 9999 and app.limit_for("/devices/health/") == 4096
    assert app.limit_for("/dead-letters/12/replay") == 9999
    assert app.limit_for("/tarefas") == app.limit_for("/dead-letters/replay") == 2048


def test_routes_taking_arrays_are_bounded_by_the_array_limit() -> None:
    """`POST /sessions` and `POST /devices/health` take arrays: their path's limit is the array's (a single object's
    narrower limit is the route's own 413)."""
    settings = Settings(_env_file=None, max_body_bytes_sessions=9999,  # type: ignore[call-arg]
                        max_body_bytes_device_health=4096, max_body_bytes_sessions_batch=50_000,
                        max_body_bytes_devices_batch=20_000)
    app = BodyLimitMiddleware(Echo(), default=2048, per_route=route_limits(settings))
    assert app.limit_for("/sessions") == 50_000 and app.limit_for("/devices/health") == 20_000
