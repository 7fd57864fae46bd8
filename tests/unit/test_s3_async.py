"""The async object-store client: one per event loop and location inside `shared_clients()` (the API's lifespan),
closed when it ends; one per call elsewhere."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient

from storage import s3
from storage.s3 import S3Location

#: Nothing listens on port 9; making a client connects to nothing.
LOCATION = S3Location(endpoint_url="http://127.0.0.1:9", access_key="k", secret_key="s", region="us-east-1",
                      bucket="b")
OTHER = S3Location(**{**LOCATION.__dict__, "bucket": "other"})


async def _client(location: S3Location, timeout_s: float = 10.0) -> Any:
    async with s3.store_client(location, timeout_s=timeout_s) as client:
        return client


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records each client made ("open") and closed ("close")."""
    events: list[str] = []
    made = s3.s3_client

    @asynccontextmanager
    async def counting(location: S3Location, **options: Any) -> AsyncIterator[Any]:
        events.append("open")
        async with made(location, **options) as client:
            yield client
        events.append("close")

    monkeypatch.setattr(s3, "s3_client", counting)
    return events


def test_the_shared_clients_are_reused_per_location_and_closed_with_their_context(opened: list[str]) -> None:
    """Breach caught: an API route making an aioboto3 client per call (a new connection pool each request),
    concurrent first calls each making their own, or the clients left open after the API's shutdown."""
    async def scenario() -> None:
        async with s3.shared_clients():
            first = await asyncio.gather(*(_client(LOCATION) for _ in range(5)))
            assert all(client is first[0] for client in first)
            assert await _client(LOCATION) is first[0]
            assert await _client(OTHER) is not first[0]
            assert await _client(LOCATION, timeout_s=3.0) is not first[0]
            assert opened == ["open"] * 3
        assert not s3._shared and opened == ["open"] * 3 + ["close"] * 3

    asyncio.run(scenario())


def test_outside_the_context_each_call_has_its_own_client(opened: list[str]) -> None:
    """Breach caught: a script's `asyncio.run(get_object(...))` leaving a client bound to a loop that is gone."""
    async def scenario() -> None:
        await _client(LOCATION)
        await _client(LOCATION)
        assert opened == ["open", "close"] * 2 and not s3._shared

    asyncio.run(scenario())


def test_the_api_lifespan_opens_and_closes_the_shared_clients() -> None:
    from api.main import create_app

    seen: list[bool] = []
    app = create_app()

    @app.get("/__probe")
    async def probe() -> dict[str, bool]:
        seen.append(asyncio.get_running_loop() in s3._shared)
        return {}

    with TestClient(app) as client:
        client.get("/__probe")
    assert seen == [True] and not s3._shared
