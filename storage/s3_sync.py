"""A blocking S3 client for synchronous callers (Celery tasks), made once per process and location.

botocore's own client: thread-safe once made, with a pool of keep-alive connections. It is keyed by
`os.getpid()` too, so a prefork child never shares the sockets it inherited from its parent.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError

from storage.s3 import S3Location, client_options
from storage.s3_endpoint_cache import cache_endpoints_by_bucket

_clients: dict[tuple[int, S3Location], Any] = {}
#: Making a client is not thread-safe in botocore (sessions load and cache service models).
_lock = threading.Lock()


def sync_client(location: S3Location) -> Any:
    """This process's client for `location`, made on first use and reused afterwards."""
    key = (os.getpid(), location)
    client = _clients.get(key)
    if client is None:
        with _lock:
            client = _clients.get(key)
            if client is None:
                # Entries of another pid are a parent's (after fork): dropped, never used.
                for stale in [k for k in _clients if k[0] != key[0]]:
                    del _clients[stale]
                client = _clients[key] = _new_client(location)
    return client


def _new_client(location: S3Location) -> Any:
    session = botocore.session.get_session()
    client = session.create_client(
        "s3", region_name=location.region, endpoint_url=location.endpoint_url,
        aws_access_key_id=location.access_key, aws_secret_access_key=location.secret_key,
        config=Config(**client_options()))
    cache_endpoints_by_bucket(client)
    return client


def ensure_bucket(client: Any, bucket: str) -> None:
    """Create the bucket unless it exists (`create_bucket` on an existing one can fail)."""
    try:
        client.head_bucket(Bucket=bucket)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in {"404", "NoSuchBucket", "NotFound"}:
            raise
        client.create_bucket(Bucket=bucket)


def put_object(location: S3Location, key: str, body: bytes, content_type: str, *,
               create_bucket: bool = False) -> None:
    """Write the object; `create_bucket` creates a missing bucket first (a store of its own, e.g. for models)."""
    client = sync_client(location)
    try:
        client.put_object(Bucket=location.bucket, Key=key, Body=body, ContentType=content_type)
    except ClientError as exc:
        if not create_bucket or exc.response.get("Error", {}).get("Code") != "NoSuchBucket":
            raise
        ensure_bucket(client, location.bucket)
        client.put_object(Bucket=location.bucket, Key=key, Body=body, ContentType=content_type)


def get_object(location: S3Location, key: str) -> bytes | None:
    """The object's bytes, or None if there is no such object."""
    try:
        response = sync_client(location).get_object(Bucket=location.bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
            return None
        raise
    with response["Body"] as stream:
        return bytes(stream.read())
