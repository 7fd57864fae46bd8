"""`POST /devices/health` and `POST /sessions` with an array: one task for all the items, every item applied, a bad
item a 422 naming its index with nothing enqueued, an array over the limit refused (issue 12)."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy import text

from tests.integration.stack import Stack


def _tasks(stack: Stack, name: str) -> int:
    with stack.engine.connect() as connection:
        return int(connection.scalar(text("SELECT count(*) FROM task_records WHERE name = :n"), {"n": name}) or 0)


def _readings(n: int) -> list[dict]:
    prefix = f"fleet-{uuid.uuid4().hex[:8]}"
    return [{"id": f"{prefix}-{i}", "wifi_status": "connected", "cpu_temp": f"{40 + i % 20}°C",
             "cpu_percent": float(i % 100), "firmware": f"v{i}"} for i in range(n)]


def _sessions(n: int) -> list[dict]:
    user = f"user_{uuid.uuid4().hex[:6]}"
    return [{"user_id": user, "session_uuid": str(uuid.uuid4()), "events": [{"type": "click", "x": i}],
             "metadata": {"n": i}} for i in range(n)]


def _locs(response: httpx.Response) -> list[list[str | int]]:
    assert response.status_code == 422, response.text[:500]
    return [error["loc"] for error in response.json()["detail"]]


def test_an_array_of_readings_is_one_task_and_every_device_is_upserted(stack: Stack) -> None:
    readings = _readings(300)
    before = _tasks(stack, "devices.upsert")
    accepted = stack.api.post("/devices/health", json=readings)
    assert accepted.status_code == 202, accepted.text
    record = stack.wait_task(accepted.json()["task_id"])
    assert record["state"] == "SUCCESS" and record["result"]["readings"] == 300
    assert _tasks(stack, "devices.upsert") == before + 1
    for reading in readings[::37] + readings[-1:]:
        device = stack.api.get(f"/devices/{reading['id']}").json()
        assert device["cpu_percent"] == reading["cpu_percent"] and device["extra"] == {"firmware": reading["firmware"]}
    assert record["result"]["device_urls"][0] == f"/devices/{readings[0]['id']}"


def test_a_single_reading_keeps_its_task_and_answer(stack: Stack) -> None:
    reading = _readings(1)[0]
    accepted = stack.api.post("/devices/health", json=reading)
    assert accepted.status_code == 202 and set(accepted.json()) == {"task_id", "status_url", "state"}
    record = stack.wait_task(accepted.json()["task_id"])
    assert record["result"]["raspberry_id"] == reading["id"]


def test_an_array_of_sessions_is_one_task_and_each_is_stored_at_its_key(stack: Stack) -> None:
    sessions = _sessions(12)
    before = _tasks(stack, "sessions.persist")
    accepted = stack.api.post("/sessions", json=sessions)
    assert accepted.status_code == 202, accepted.text
    record = stack.wait_task(accepted.json()["task_id"])
    assert record["state"] == "SUCCESS" and _tasks(stack, "sessions.persist") == before + 1
    stored = record["result"]["sessions"]
    assert [item["key"] for item in stored] == [f"sessions/{s['user_id']}/{s['session_uuid']}.json" for s in sessions]
    for session, item in zip(sessions, stored, strict=True):
        assert json.loads(stack.api.get(item["session_url"]).content) == session


def test_a_bad_item_is_a_422_naming_its_index_and_nothing_is_enqueued(stack: Stack) -> None:
    readings = _readings(10)
    readings[7]["gpio_used_count"] = -1
    sessions = _sessions(5)
    del sessions[3]["session_uuid"]
    before = _tasks(stack, "devices.upsert"), _tasks(stack, "sessions.persist")
    assert _locs(stack.api.post("/devices/health", json=readings)) == [["body", 7, "gpio_used_count"]]
    assert _locs(stack.api.post("/sessions", json=sessions)) == [["body", 3, "session_uuid"]]
    assert _locs(stack.api.post("/devices/health", json=[{"id": "a"}, "not an object"])) == [["body", 1]]
    assert _locs(stack.api.post("/sessions", content=b'[{"user_id": "u", "session_uuid": "s", "x": NaN}]',
                                headers={"content-type": "application/json"})) == [["body"]]
    assert _locs(stack.api.post("/devices/health", json=[])) == [["body"]]
    assert _locs(stack.api.post("/sessions", json=[])) == [["body"]]
    assert (_tasks(stack, "devices.upsert"), _tasks(stack, "sessions.persist")) == before


def test_an_array_over_the_limit_is_refused(stack: Stack) -> None:
    """DEVICES_BATCH_MAX and SESSIONS_BATCH_MAX are read per request: a second API with small ones refuses what the
    first accepts, as `/checkin/batch` refuses an array over CHECKIN_BATCH_MAX (a 422 `too_long`)."""
    small = stack.start_api(name="api-small-batches", DEVICES_BATCH_MAX="3", SESSIONS_BATCH_MAX="2")
    try:
        before = _tasks(stack, "devices.upsert"), _tasks(stack, "sessions.persist")
        refused = small.post("/devices/health", json=_readings(4))
        assert refused.status_code == 422 and refused.json()["detail"][0]["type"] == "too_long"
        assert "DEVICES_BATCH_MAX" in refused.json()["detail"][0]["msg"]
        assert small.post("/sessions", json=_sessions(3)).json()["detail"][0]["type"] == "too_long"
        assert (_tasks(stack, "devices.upsert"), _tasks(stack, "sessions.persist")) == before
        assert small.post("/devices/health", json=_readings(3)).status_code == 202
        schema = small.get("/openapi.json").json()["paths"]["/devices/health"]["post"]["requestBody"]
        assert schema["content"]["application/json"]["schema"]["oneOf"][1]["maxItems"] == 3
    finally:
        small.close()


def test_an_array_with_an_idempotency_key_is_one_task(stack: Stack) -> None:
    readings = _readings(5)
    key = {"Idempotency-Key": f"fleet-{uuid.uuid4().hex}"}
    first = stack.api.post("/devices/health", json=readings, headers=key)
    again = stack.api.post("/devices/health", json=readings, headers=key)
    assert first.status_code == again.status_code == 202 and first.json()["task_id"] == again.json()["task_id"]
    assert stack.api.post("/devices/health", json=readings[:4], headers=key).status_code == 422


def test_concurrent_arrays_are_all_applied_once(stack: Stack) -> None:
    arrays = [_readings(50) for _ in range(8)]
    before = _tasks(stack, "devices.upsert")
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda body: stack.api.post("/devices/health", json=body), arrays))
    assert [answer.status_code for answer in answers] == [202] * 8
    records = stack.wait_tasks([answer.json()["task_id"] for answer in answers], timeout=90)
    assert [record["state"] for record in records] == ["SUCCESS"] * 8
    assert _tasks(stack, "devices.upsert") == before + 8
    for body in arrays:
        assert all(stack.api.get(f"/devices/{r['id']}").json()["cpu_percent"] == r["cpu_percent"] for r in body[::10])
    with stack.engine.connect() as connection:
        for body in arrays:  # each array's devices, once each
            prefix = body[0]["id"].rsplit("-", 1)[0] + "-%"
            assert connection.scalar(text("SELECT count(*) FROM device_status WHERE raspberry_id LIKE :p"),
                                     {"p": prefix}) == len(body)
