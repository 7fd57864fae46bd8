"""A session the object store refuses for good must not hold back the sessions behind it."""

from __future__ import annotations

import uuid

import pytest

from taskplatform.dev.processes import wait_until
from tests.integration.producers import publish_raw_sessions, require_amqp
from tests.integration.stack import Stack
from tests.services import REGISTRY


def test_a_session_the_store_refuses_neither_blocks_the_others_nor_is_lost(stack: Stack) -> None:
    """Catches a permanently failing upload that holds its slot (retried as if the store were down) while
    every session behind it waits, or that is dropped: with one upload in flight and the refused session
    first in the queue, the 20 behind it are stored, and the refused one ends in the dead-letter store."""
    require_amqp(stack)
    if stack.policy_problem:
        REGISTRY.skipped["rabbitmq-policy"] = stack.policy_problem
        pytest.skip(stack.policy_problem)
    marker = uuid.uuid4().hex[:8]
    refused = {"user_id": f"long{marker}" + "u" * 2000, "session_uuid": str(uuid.uuid4()), "events": []}
    good = [{"user_id": f"behind-{marker}", "session_uuid": str(uuid.uuid4()), "events": [n]} for n in range(20)]
    stack.stop_worker()
    try:
        publish_raw_sessions(stack, [refused, *good])
        stack.start_worker(queues=("sessions",), SESSIONS_IN_FLIGHT="1")
        wait_until(lambda: all(stack.api.get(f"/sessions/{s['user_id']}/{s['session_uuid']}").status_code == 200
                               for s in good), timeout=60, interval=0.5, what="the 20 sessions behind the refused one")

        def letter() -> dict | None:
            items = stack.api.get("/dead-letters", params={"queue": "raw_sessions", "limit": 1000}).json()["items"]
            return next((i for i in items if marker in i["body"]), None)

        wait_until(lambda: letter() is not None, timeout=60, interval=0.5, what="the refused session's dead letter")
        found = letter()
        assert found is not None and found["reason"] in {"delivery_limit", "invalid_key", "invalid_message"}
    finally:
        if any(child.name == "worker" for child in stack.supervisor.children):
            stack.stop_worker()
        stack.start_worker()
