"""S3-compatible object store access (Garage, MinIO, AWS, SeaweedFS) with aioboto3.

Inside `shared_clients()` (the API's lifespan) the functions below reuse one client per location on the running
event loop; elsewhere (a script's `asyncio.run`) each call opens and closes its own, so none outlives its loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import aioboto3
from aiobotocore.config import AioConfig
from botocore.exceptions import ClientError

from storage.s3_endpoint_cache import cache_endpoints_by_bucket


@dataclass(frozen=True)
class S3Location:
    """Where and how to reach the object store (no secret is ever logged from here)."""

    endpoint_url: str | None
    access_key: str | None
    secret_key: str | None
    region: str
    bucket: str


@lru_cache(maxsize=8)
def _session(access_key: str | None, secret_key: str | None, region: str) -> aioboto3.Session:
    # One session per process and identity: a new one reloads botocore's service model (~0.2 s).
    return aioboto3.Session(aws_access_key_id=access_key, aws_secret_access_key=secret_key, region_name=region)


def client_options(*, timeout_s: float = 10.0, connections: int = 10) -> dict[str, Any]:
    """Client settings shared by the async and the sync client: path-style addressing (what self-hosted
    stores expect), short timeouts and one retry, so an outage reaches the caller's own backoff quickly."""
    return {"s3": {"addressing_style": "path"}, "connect_timeout": timeout_s, "read_timeout": timeout_s,
            "retries": {"max_attempts": 2, "mode": "standard"}, "max_pool_connections": connections}


@asynccontextmanager
async def s3_client(location: S3Location, *, timeout_s: float = 10.0, connections: int = 10) -> AsyncIterator[Any]:
    """An aioboto3 S3 client with path-style addressing (what self-hosted stores expect)."""
    session = _session(location.access_key, location.secret_key, location.region)
    config = AioConfig(**client_options(timeout_s=timeout_s, connections=connections))
    async with session.client("s3", endpoint_url=location.endpoint_url, config=config) as client:
        cache_endpoints_by_bucket(client)
        yield client


class _LoopClients:
    """The clients of one event loop, by (location, timeout), opened on first use and closed together."""

    def __init__(self) -> None:
        self.stack = AsyncExitStack()
        self.opening: dict[tuple[S3Location, float], asyncio.Future[Any]] = {}

    async def client(self, location: S3Location, timeout_s: float) -> Any:
        key = (location, timeout_s)
        opening = self.opening.get(key)
        if opening is None:  # the requests that arrive while it opens wait for the same client
            opening = self.opening[key] = asyncio.ensure_future(
                self.stack.enter_async_context(s3_client(location, timeout_s=timeout_s)))
        try:
            return await asyncio.shield(opening)  # a cancelled request leaves the client to the others
        except Exception:
            if opening.done() and self.opening.get(key) is opening:
                del self.opening[key]  # could not be made: the next call tries again
            raise

    async def aclose(self) -> None:
        await asyncio.gather(*self.opening.values(), return_exceptions=True)
        await self.stack.aclose()


_shared: dict[asyncio.AbstractEventLoop, _LoopClients] = {}


@asynccontextmanager
async def shared_clients() -> AsyncIterator[None]:
    """Within this context, on the running loop, one client per location serves every call; closed on exit."""
    loop = asyncio.get_running_loop()
    if loop in _shared:  # nested: the outer context owns and closes them
        yield
        return
    clients = _shared[loop] = _LoopClients()
    try:
        yield
    finally:
        del _shared[loop]
        await clients.aclose()


@asynccontextmanager
async def store_client(location: S3Location, *, timeout_s: float = 10.0) -> AsyncIterator[Any]:
    """The loop's shared client for `location` inside `shared_clients()`, else a client of this call only."""
    shared = _shared.get(asyncio.get_running_loop())
    if shared is not None:
        yield await shared.client(location, timeout_s)
        return
    async with s3_client(location, timeout_s=timeout_s) as client:
        yield client


async def ensure_bucket(client: Any, bucket: str) -> None:
    """Create the bucket unless it exists (`create_bucket` on an existing one can fail)."""
    try:
        await client.head_bucket(Bucket=bucket)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in {"404", "NoSuchBucket", "NotFound"}:
            raise
        await client.create_bucket(Bucket=bucket)


async def check_bucket(location: S3Location) -> None:
    """Raise unless the bucket answers (used by `/status`)."""
    async with store_client(location, timeout_s=3.0) as client:
        await client.head_bucket(Bucket=location.bucket)


async def put_object(location: S3Location, key: str, body: bytes, content_type: str, *,
                     create_bucket: bool = False) -> None:
    """Write the object; `create_bucket` creates a missing bucket first (a store of its own, e.g. for models)."""
    async with store_client(location) as client:
        try:
            await client.put_object(Bucket=location.bucket, Key=key, Body=body, ContentType=content_type)
        except ClientError as exc:
            if not create_bucket or exc.response.get("Error", {}).get("Code") != "NoSuchBucket":
                raise
            await ensure_bucket(client, location.bucket)
            await client.put_object(Bucket=location.bucket, Key=key, Body=body, ContentType=content_type)


async def get_object(location: S3Location, key: str) -> bytes | None:
    """The object's bytes, or None if there is no such object."""
    async with store_client(location) as client:
        try:
            response = await client.get_object(Bucket=location.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                return None
            raise
        async with response["Body"] as stream:
            return bytes(await stream.read())
