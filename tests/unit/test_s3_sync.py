"""The synchronous object-store client: one per process and location, reused by every blocking call."""

from __future__ import annotations

import io
import socket

import pytest
from botocore.exceptions import ClientError
from botocore.response import StreamingBody
from botocore.stub import Stubber

from storage import s3_sync
from storage.s3 import S3Location
from taskplatform.core.errors import TRANSIENT_ERRORS, is_transient
from taskplatform.core.object_store import get_bytes, put_bytes

#: Nothing listens on port 9: a call that escapes the stubbed client fails at once.
LOCATION = S3Location(endpoint_url="http://127.0.0.1:9", access_key="k", secret_key="s", region="us-east-1",
                      bucket="b")


@pytest.fixture(autouse=True)
def no_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(s3_sync, "_clients", {})


def test_one_client_per_process_and_location() -> None:
    """Breach caught: a client made per call (a new connection pool and service model load each time)."""
    client = s3_sync.sync_client(LOCATION)
    assert s3_sync.sync_client(LOCATION) is client
    other = S3Location(**{**LOCATION.__dict__, "bucket": "other"})
    assert s3_sync.sync_client(other) is not client
    assert client.meta.config.s3 == {"addressing_style": "path"}


def test_a_forked_child_gets_its_own_client(monkeypatch: pytest.MonkeyPatch) -> None:
    """Breach caught: a prefork child reusing the connections it inherited from its parent."""
    parent = s3_sync.sync_client(LOCATION)
    monkeypatch.setattr(s3_sync.os, "getpid", lambda: -1)
    child = s3_sync.sync_client(LOCATION)
    assert child is not parent
    assert s3_sync.sync_client(LOCATION) is child


def test_put_and_get_reuse_the_client_and_a_missing_object_is_none() -> None:
    """Breach caught: object_store making a client per call (the calls would miss the stubbed client and fail
    to connect), or a missing object raising instead of reading as None."""
    with Stubber(s3_sync.sync_client(LOCATION)) as stub:
        stub.add_response("put_object", {}, {"Bucket": "b", "Key": "a.json", "Body": b"{}",
                                             "ContentType": "application/json"})
        stub.add_response("get_object", {"Body": StreamingBody(io.BytesIO(b"{}"), 2)}, {"Bucket": "b", "Key": "a.json"})
        stub.add_client_error("get_object", service_error_code="NoSuchKey", http_status_code=404)
        put_bytes("a.json", b"{}", "application/json", location=LOCATION)
        assert get_bytes("a.json", location=LOCATION) == b"{}"
        assert get_bytes("missing.json", location=LOCATION) is None
        stub.assert_no_pending_responses()


def test_a_store_answering_5xx_is_a_transient_error() -> None:
    """Breach caught: a 503 from the store surfacing as something tasks would not retry."""
    with Stubber(s3_sync.sync_client(LOCATION)) as stub:
        stub.add_client_error("get_object", service_error_code="SlowDown", http_status_code=503)
        with pytest.raises(ClientError) as raised:
            get_bytes("a.json", location=LOCATION)
    assert is_transient(raised.value)


def test_a_store_that_refuses_connections_is_a_transient_error() -> None:
    """Breach caught: the store being down failing a task at once instead of retrying it (`TrackedTask`
    retries only `TRANSIENT_ERRORS`)."""
    with socket.socket() as probe:  # a port nothing listens on: bound, then released
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = S3Location(**{**LOCATION.__dict__, "endpoint_url": f"http://127.0.0.1:{port}"})
    with pytest.raises(TRANSIENT_ERRORS):
        get_bytes("a.json", location=down)
