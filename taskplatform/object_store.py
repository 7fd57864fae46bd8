"""The platform's object-store location, from settings."""

from __future__ import annotations

from storage.s3 import S3Location
from taskplatform.settings import Settings


def s3_location(settings: Settings) -> S3Location:
    return S3Location(
        endpoint_url=settings.s3_endpoint_url,
        access_key=settings.s3_access_key.get_secret_value() if settings.s3_access_key else None,
        secret_key=settings.s3_secret_key.get_secret_value() if settings.s3_secret_key else None,
        region=settings.s3_region,
        bucket=settings.s3_bucket,
    )
