"""Raspberry Pi health checks: the seed's pika producer, HTTP, batches and dead letters."""

from __future__ import annotations

import uuid

from taskplatform.processes import wait_until
from tests.integration.producers import SEED_READING, publish_rasp_data, require_amqp
from tests.integration.stack import Stack


def _device(stack: Stack, raspberry_id: str) -> dict:
    found: dict = {}

    def present() -> bool:
        nonlocal found
        response = stack.api.get(f"/devices/{raspberry_id}")
        found = response.json() if response.status_code == 200 else {}
        return bool(found)

    wait_until(present, timeout=30, what=f"device {raspberry_id}")
    return found


def test_the_seeds_publish_snippet_shows_up_in_devices(stack: Stack) -> None:
    require_amqp(stack)
    publish_rasp_data(stack, [SEED_READING])
    device = _device(stack, "raspberry-01")
    for field, value in SEED_READING.items():
        assert device["raspberry_id" if field == "id" else field] == value, field
    assert device["last_update"].endswith("Z") and device["stale"] is False


def test_a_batch_of_messages_keeps_the_newest_per_device_and_unknown_fields(stack: Stack) -> None:
    require_amqp(stack)
    prefix = f"pi-{uuid.uuid4().hex[:6]}"
    bodies = [{"id": f"{prefix}-{n % 40}", "cpu_percent": float(n), "wifi_status": "connected", "firmware": f"v{n}"}
              for n in range(2000)]
    publish_rasp_data(stack, bodies)
    last = {b["id"]: b for b in bodies}
    wait_until(lambda: all(stack.api.get(f"/devices/{i}").json().get("cpu_percent") == b["cpu_percent"]
                           for i, b in last.items()), timeout=60, interval=0.5, what="the newest reading per device")
    device = stack.api.get(f"/devices/{prefix}-7").json()
    assert device["extra"] == {"firmware": last[f"{prefix}-7"]["firmware"]}


def test_malformed_messages_become_dead_letters_and_a_fixed_one_replays(stack: Stack) -> None:
    require_amqp(stack)
    marker = uuid.uuid4().hex[:8]
    publish_rasp_data(stack, [f"not json {marker}{{".encode(), {"wifi_status": f"no id {marker}"}])

    def letters() -> list[dict]:
        items = stack.api.get("/dead-letters", params={"queue": "rasp_data", "limit": 1000}).json()["items"]
        return [i for i in items if marker in i["body"]]

    wait_until(lambda: len(letters()) == 2, timeout=30, what="two dead letters")
    found = {letter["reason"]: letter for letter in letters()}
    assert set(found) == {"invalid_json", "invalid_message"}
    assert "id" in found["invalid_message"]["error"]

    still_bad = stack.api.post(f"/dead-letters/{found['invalid_message']['id']}/replay")
    assert still_bad.status_code == 422
    fixed = {"id": f"fixed-{marker}", "wifi_status": "connected"}
    replay = stack.api.post(f"/dead-letters/{found['invalid_message']['id']}/replay", json={"body": fixed})
    assert replay.status_code == 202
    assert stack.wait_task(replay.json()["task_id"])["state"] == "SUCCESS"
    assert stack.api.get(f"/devices/fixed-{marker}").json()["wifi_status"] == "connected"
    replayed = stack.api.get(f"/dead-letters/{found['invalid_message']['id']}").json()
    assert replayed["replay_task_id"] == replay.json()["task_id"]


def test_health_checks_over_http_and_the_device_list(stack: Stack) -> None:
    raspberry_id = f"http-{uuid.uuid4().hex[:8]}"
    accepted = stack.api.post("/devices/health", json={**SEED_READING, "id": raspberry_id, "wifi_status": "weak"})
    assert accepted.status_code == 202
    assert stack.wait_task(accepted.json()["task_id"])["state"] == "SUCCESS"
    assert stack.api.get(f"/devices/{raspberry_id}").json()["net_ifaces"] == SEED_READING["net_ifaces"]
    listed = stack.api.get("/devices", params={"wifi_status": "weak", "limit": 1000}).json()
    assert raspberry_id in [d["raspberry_id"] for d in listed["items"]]
    assert all(d["wifi_status"] == "weak" for d in listed["items"])
    assert raspberry_id not in [d["raspberry_id"] for d in
                                stack.api.get("/devices", params={"stale": "true", "limit": 1000}).json()["items"]]
    messages = stack.api.get("/devices/messages", params={"limit": 5}).json()
    assert len(messages) <= 5 and any(m["raspberry_id"] == raspberry_id for m in messages)
    assert stack.api.get("/devices/never-seen").status_code == 404
    assert stack.api.post("/devices/health", json={"wifi_status": "x"}).status_code == 422
    assert stack.api.post("/devices/health", json={"id": "x", "cpu_percent": "hot"}).status_code == 422
