"""The platform's object store: location from settings, and blocking calls for tasks."""

from __future__ import annotations

import asyncio

from storage.s3 import S3Location, get_object, put_object
from taskplatform.settings import Settings, get_settings


def s3_location(settings: Settings) -> S3Location:
    return S3Location(
        endpoint_url=settings.s3_endpoint_url,
        access_key=settings.s3_access_key.get_secret_value() if settings.s3_access_key else None,
        secret_key=settings.s3_secret_key.get_secret_value() if settings.s3_secret_key else None,
        region=settings.s3_region,
        bucket=settings.s3_bucket,
    )


def put_bytes(key: str, body: bytes, content_type: str) -> None:
    """Upload from a (synchronous) task; overwriting the same key is the idempotent retry."""
    asyncio.run(put_object(s3_location(get_settings()), key, body, content_type))


def get_bytes(key: str) -> bytes | None:
    return asyncio.run(get_object(s3_location(get_settings()), key))
