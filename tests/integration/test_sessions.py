"""UX sessions: the seed's raw queue and format, HTTP, and dead letters."""

from __future__ import annotations

import json
import uuid

from taskplatform.dev.processes import wait_until
from tests.integration.helpers import wait_dead_letter
from tests.integration.producers import publish_raw_sessions, require_amqp
from tests.integration.stack import Stack


def _session(user_id: str | None = None) -> dict:
    return {"user_id": user_id or f"user_{uuid.uuid4().hex[:6]}", "session_uuid": str(uuid.uuid4()),
            "timestamp": "2024-01-01T12:00:00Z", "events": [{"type": "click", "x": 10}], "metadata": {"ua": "x"}}


def _stored(stack: Stack, session: dict) -> bytes | None:
    response = stack.api.get(f"/sessions/{session['user_id']}/{session['session_uuid']}")
    return response.content if response.status_code == 200 else None


def test_a_session_published_to_raw_sessions_is_stored_at_the_seeds_key(stack: Stack) -> None:
    require_amqp(stack)
    session = _session()
    body = json.dumps(session, indent=2).encode()
    publish_raw_sessions(stack, [body, body])
    wait_until(lambda: _stored(stack, session) is not None, timeout=30, what="the session object")
    assert _stored(stack, session) == body  # byte for byte, once, whatever the number of deliveries


def test_sessions_over_http_are_validated_and_stored(stack: Stack) -> None:
    session = _session()
    accepted = stack.api.post("/sessions", json=session)
    assert accepted.status_code == 202
    record = stack.wait_task(accepted.json()["task_id"])
    assert record["result"]["key"] == f"sessions/{session['user_id']}/{session['session_uuid']}.json"
    assert json.loads(_stored(stack, session) or b"{}") == session
    assert stack.api.post("/sessions", json={"user_id": "u"}).status_code == 422
    assert stack.api.post("/sessions", json={"user_id": "../etc", "session_uuid": "x"}).status_code == 422
    assert stack.api.get(f"/sessions/nobody/{uuid.uuid4()}").status_code == 404


def test_invalid_sessions_become_dead_letters_and_a_fixed_one_replays(stack: Stack) -> None:
    require_amqp(stack)
    marker = uuid.uuid4().hex[:8]
    publish_raw_sessions(stack, [{"session_uuid": marker, "events": []}])

    found = wait_dead_letter(stack, marker, timeout=30, queue="raw_sessions")
    assert found["reason"] == "invalid_message" and "user_id" in found["error"]
    fixed = {"user_id": f"user_{marker}", "session_uuid": marker, "events": []}
    assert stack.api.post("/dead-letters/replay", params={"queue": "raw_sessions"}).json()["dry_run"] is True
    replay = stack.api.post(f"/dead-letters/{found['id']}/replay", json={"body": fixed})
    assert replay.status_code == 202 and stack.wait_task(replay.json()["task_id"])["state"] == "SUCCESS"
    assert json.loads(_stored(stack, fixed) or b"{}") == fixed
