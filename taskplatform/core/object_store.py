"""The platform's object store: locations from settings, and blocking calls for tasks (one reused client)."""

from __future__ import annotations

from pydantic import SecretStr

from storage.s3 import S3Location
from storage.s3_sync import get_object, put_object
from taskplatform.core.settings import Settings, get_settings


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value else None


def s3_location(settings: Settings) -> S3Location:
    return S3Location(
        endpoint_url=settings.s3_endpoint_url,
        access_key=_secret(settings.s3_access_key),
        secret_key=_secret(settings.s3_secret_key),
        region=settings.s3_region,
        bucket=settings.s3_bucket,
    )


def models_location(settings: Settings) -> S3Location:
    """Where model artifacts live: MODELS_S3_BUCKET and the MODELS_S3_* key pair, each defaulting to the main one.

    The pair goes together: a models access key with the main secret key would be a credential of nobody.
    """
    main = s3_location(settings)
    access, secret = settings.models_s3_access_key, settings.models_s3_secret_key
    if (access is None) != (secret is None):
        raise ValueError("set both MODELS_S3_ACCESS_KEY and MODELS_S3_SECRET_KEY, or neither")
    return S3Location(
        endpoint_url=main.endpoint_url,
        access_key=_secret(access) if access else main.access_key,
        secret_key=_secret(secret) if secret else main.secret_key,
        region=main.region,
        bucket=settings.models_s3_bucket or main.bucket,
    )


def put_bytes(key: str, body: bytes, content_type: str, *, location: S3Location | None = None,
              create_bucket: bool = False) -> None:
    """Upload from a (synchronous) task; overwriting the same key is the idempotent retry."""
    put_object(location or s3_location(get_settings()), key, body, content_type, create_bucket=create_bucket)


def get_bytes(key: str, *, location: S3Location | None = None) -> bytes | None:
    return get_object(location or s3_location(get_settings()), key)
