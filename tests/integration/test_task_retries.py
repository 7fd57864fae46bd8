"""Task retries end to end: RETRY transitions with backoff while a server is down, bad input never retried."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from taskplatform.dev.processes import wait_until
from tests.integration.conftest import Embedded
from tests.integration.helpers import accepted_task, dead_letters_with
from tests.integration.stack import Stack

pytestmark = pytest.mark.slow

#: TrackedTask's backoff: factor 2 seconds, doubled per retry, capped at 300 s; full jitter draws in [0, cap].
BACKOFF_FACTOR, BACKOFF_MAX = 2, 300


def _retries(stack: Stack, task_id: str) -> list[dict[str, Any]]:
    return [e for e in stack.api.get(f"/tarefa/{task_id}").json()["events"] if e["state"] == "RETRY"]


def test_a_task_retries_with_backoff_while_the_object_store_is_down_then_succeeds(stack: Stack,
                                                                                   embedded: Embedded) -> None:
    """Breach caught: a store outage failing the task at once (the error not treated as transient), retries
    without backoff (a fixed delay: Celery's default is 180 s), or RETRY transitions missing from the ledger.
    Each RETRY event must carry its retry number and a delay within the exponential bound of that retry."""
    session = {"user_id": f"retry_{uuid.uuid4().hex[:6]}", "session_uuid": str(uuid.uuid4()), "events": [1]}
    embedded.stop_s3()
    try:
        task_id = accepted_task(stack.api.post("/sessions", json=session))
        wait_until(lambda: len(_retries(stack, task_id)) >= 3, timeout=120, interval=0.5,
                   what="three retries while the object store is down")
    finally:
        embedded.start_s3()
    record = stack.wait_task(task_id, timeout=180)
    assert record["state"] == "SUCCESS", record
    retries = [e["detail"] for e in record["events"] if e["state"] == "RETRY"]
    assert [r["retries"] for r in retries] == list(range(len(retries)))
    for retry in retries:
        bound = min(BACKOFF_FACTOR * 2 ** retry["retries"], BACKOFF_MAX)
        assert retry["countdown_s"] is not None and 0 <= retry["countdown_s"] <= bound, retry
        assert "EndpointConnectionError" in retry["error"] or "ConnectionError" in retry["error"], retry
    # Celery publishes the retry before the RETRY hook runs: with a delay of 0 the next attempt can start
    # (and be recorded) before the previous attempt's RETRY event, so only the counts are fixed.
    states = [e["state"] for e in record["events"] if e["state"] != "QUEUED"]
    assert states[0] == "STARTED" and states[-1] == "SUCCESS" and states.count("SUCCESS") == 1, states
    assert states.count("STARTED") == len(retries) + 1, states
    assert record["attempts"] == len(retries) + 1
    stored = stack.api.get(f"/sessions/{session['user_id']}/{session['session_uuid']}")
    assert stored.status_code == 200 and json.loads(stored.content) == session


def test_a_permanent_error_fails_at_once_and_is_never_retried(stack: Stack, embedded: Embedded) -> None:
    """Breach caught: bad input retried (PermanentError treated as transient, or any exception retried) or
    parked as a dead letter as if a server had been down. The session lacks its user_id; the object store is
    down too, so only the kind of error decides."""
    task_id = f"permanent-{uuid.uuid4()}"
    marker = uuid.uuid4().hex
    embedded.stop_s3()
    try:
        stack.send_raw("sessions.persist", {"session": {"session_uuid": marker, "events": []}}, task_id=task_id,
                       queue="sessions")
        record = stack.wait_task(task_id)
    finally:
        embedded.start_s3()
    assert record["state"] == "FAILURE" and record["error_type"] == "PermanentError", record
    assert record["attempts"] == 1
    assert [e["state"] for e in record["events"]] == ["STARTED", "FAILURE"]
    assert dead_letters_with(stack, marker) == []
