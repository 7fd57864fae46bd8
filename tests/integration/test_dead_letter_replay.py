"""Replaying dead letters over HTTP: bulk replays that really replay, bad bodies that are 422s, not 500s."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy.orm import Session

from taskplatform.dead_letters.store import NewDeadLetter, record_dead_letters
from tests.integration.stack import Stack

BAD_TASK_BODIES = ["[1, 2, 3]", '{"args": 5, "kwargs": []}', "not json{"]


def _task_body(reading: dict[str, Any]) -> str:
    """What `TrackedTask` stores for a `devices.upsert` that exhausted its retries."""
    return json.dumps({"args": [], "kwargs": {"reading": reading}})


def _insert(stack: Stack, letters: list[NewDeadLetter]) -> list[int]:
    """Dead letters written by the platform's own function, as a worker writes them; their ids in order."""
    with Session(stack.engine) as session, session.begin():
        record_dead_letters(session=session, letters=letters)
    reasons = {letter.reason for letter in letters}
    found = stack.api.get("/dead-letters", params={"reason": reasons.pop(), "limit": 1000}).json()["items"]
    assert not reasons and len(found) == len(letters)
    return sorted(item["id"] for item in found)


def _task_letter(reason: str, body: str) -> NewDeadLetter:
    return NewDeadLetter(queue="devices", task_name="devices.upsert", reason=reason, body=body,
                         error="OperationalError: connection refused", attempts=9)


def test_a_bulk_replay_replays_every_good_letter_and_lists_the_bad_ones(stack: Stack) -> None:
    """Catches the non-dry-run bulk replay answering 500 (`headers.pop`), and a bad letter in the middle
    stopping it after committing the earlier ones: every good letter is replayed, applied and marked,
    every bad one is listed in `failed` with its reason and left unreplayed, and nothing is replayed twice."""
    marker = uuid.uuid4().hex[:8]
    reason = f"bulk-{marker}"
    good = [{"id": f"bulk-{marker}-{n}", "wifi_status": "replayed"} for n in range(3)]
    letters = [_task_letter(reason, _task_body(good[0])), _task_letter(reason, BAD_TASK_BODIES[0]),
               _task_letter(reason, _task_body(good[1])), _task_letter(reason, BAD_TASK_BODIES[1]),
               _task_letter(reason, BAD_TASK_BODIES[2]),
               NewDeadLetter(queue="rasp_data", reason=reason, body=json.dumps(good[2])),
               NewDeadLetter(queue="rasp_data", reason=reason, body="not json{")]
    ids = _insert(stack, letters)
    good_ids, bad_ids = [ids[0], ids[2], ids[5]], [ids[1], ids[3], ids[4], ids[6]]

    dry = stack.api.post("/dead-letters/replay", params={"reason": reason})
    assert dry.status_code == 200 and dry.json()["matched"] == 7 and dry.json()["replayed"] == []

    response = stack.api.post("/dead-letters/replay", params={"reason": reason, "dry_run": "false"})
    assert response.status_code == 200, response.text
    outcome = response.json()
    assert outcome["matched"] == 7 and outcome["stopped"] is None
    assert [r["id"] for r in outcome["replayed"]] == good_ids
    assert {f["id"]: f["reason"] for f in outcome["failed"]} == {
        ids[1]: "invalid_message", ids[3]: "invalid_message", ids[4]: "invalid_json", ids[6]: "invalid_json"}
    assert "location" not in response.headers

    records = stack.wait_tasks([r["task_id"] for r in outcome["replayed"]], timeout=60)
    assert [r["state"] for r in records] == ["SUCCESS"] * 3
    for reading in good:
        assert stack.api.get(f"/devices/{reading['id']}").json()["wifi_status"] == "replayed"
    for replayed in outcome["replayed"]:
        letter = stack.api.get(f"/dead-letters/{replayed['id']}").json()
        assert letter["replayed_at"] is not None and letter["replay_task_id"] == replayed["task_id"]
    for letter_id in bad_ids:
        letter = stack.api.get(f"/dead-letters/{letter_id}").json()
        assert letter["replayed_at"] is None and letter["replay_task_id"] is None

    again = stack.api.post("/dead-letters/replay", params={"reason": reason, "dry_run": "false"}).json()
    assert again["matched"] == 4 and again["replayed"] == []
    assert sorted(f["id"] for f in again["failed"]) == bad_ids


def test_replaying_a_bad_body_is_a_422_naming_body_and_a_replayed_letter_is_a_409(stack: Stack) -> None:
    """Catches a 500 when a stored or corrected body is not JSON or has arguments of the wrong shape, a body
    the task would refuse accepted with 202 (the API sees it), a letter replayed twice, and a letter whose
    replay failed that can no longer be fixed."""
    marker = uuid.uuid4().hex[:8]
    reason = f"single-{marker}"
    broken = {"id": ""}  # a health check the device parser refuses
    # A report of a date that does not exist: only the worker finds out (its arguments are the task's own).
    no_such_day = NewDeadLetter(queue="reports", task_name="reports.daily", reason=reason,
                                body=json.dumps({"args": [], "kwargs": {"data": "2001-02-30"}}),
                                error="OperationalError: connection refused", attempts=9)
    ids = _insert(stack, [_task_letter(reason, body) for body in BAD_TASK_BODIES]
                  + [_task_letter(reason, _task_body(broken)), no_such_day])
    before = stack.api.get("/tarefas", params={"name": "devices.upsert", "limit": 1}).json()["total"]

    for letter_id in ids[:4]:
        refused = stack.api.post(f"/dead-letters/{letter_id}/replay")
        assert refused.status_code == 422, refused.text
        assert refused.json()["detail"][0]["loc"] == ["body", "body"]
    assert "kwargs.reading" in refused.json()["detail"][0]["msg"], refused.text  # the broken health check's field
    for corrected in ["not json{", [1, 2, 3], {"args": 5, "kwargs": []}]:
        refused = stack.api.post(f"/dead-letters/{ids[0]}/replay", json={"body": corrected})
        assert refused.status_code == 422, refused.text
        assert refused.json()["detail"][0]["loc"] == ["body", "body"]
    assert stack.api.get(f"/dead-letters/{ids[0]}").json()["replayed_at"] is None
    assert stack.api.get("/tarefas", params={"name": "devices.upsert", "limit": 1}).json()["total"] == before

    failing = stack.api.post(f"/dead-letters/{ids[4]}/replay")
    assert failing.status_code == 202, failing.text
    assert stack.wait_task(failing.json()["task_id"])["state"] == "FAILURE"
    fixed = json.dumps({"args": [], "kwargs": {"data": "2001-02-28"}})
    retried = stack.api.post(f"/dead-letters/{ids[4]}/replay", json={"body": fixed})
    assert retried.status_code == 202, retried.text  # its last replay failed: it may be replayed again
    twice = stack.api.post(f"/dead-letters/{ids[4]}/replay", json={"body": fixed})
    assert twice.status_code == 409 and retried.json()["task_id"] in twice.json()["detail"]
    record = stack.wait_task(retried.json()["task_id"])
    assert record["state"] == "SUCCESS" and record["result"]["data"] == "2001-02-28", record
    assert stack.api.get(f"/dead-letters/{ids[4]}").json()["replay_task_id"] == retried.json()["task_id"]
    assert stack.api.post(f"/dead-letters/{ids[4]}/replay").status_code == 409
