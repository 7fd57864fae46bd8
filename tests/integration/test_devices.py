"""Raspberry Pi health checks: the seed's pika producer, HTTP, batches and dead letters."""

from __future__ import annotations

import uuid

from taskplatform.dev.processes import wait_until
from tests.integration.helpers import count_rows, dead_letters_with, run_task, wait_device
from tests.integration.producers import SEED_READING, publish_rasp_data, require_amqp
from tests.integration.stack import Stack


def test_the_seeds_publish_snippet_shows_up_in_devices(stack: Stack) -> None:
    require_amqp(stack)
    publish_rasp_data(stack, [SEED_READING])
    device = wait_device(stack, "raspberry-01")
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

    wait_until(lambda: len(dead_letters_with(stack, marker, queue="rasp_data")) == 2, timeout=30,
               what="two dead letters")
    found = {letter["reason"]: letter for letter in dead_letters_with(stack, marker, queue="rasp_data")}
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


def test_readings_merge_field_by_field(stack: Stack) -> None:
    """Breach caught: a reading that replaces the whole row, blanking the fields it did not send, or an older
    value winning over a newer one. Three readings of one device, each sending only some fields."""
    raspberry_id = f"merge-{uuid.uuid4().hex[:8]}"
    for reading in ({"wifi_status": "connected", "cpu_percent": 10.0, "firmware": "v1"},
                    {"cpu_temp": "51°C", "net_bytes_sent": 7},
                    {"cpu_percent": 20.0, "board": "pi4"}):
        assert run_task(stack, stack.api.post("/devices/health", json={"id": raspberry_id, **reading}))[
            "state"] == "SUCCESS"
    device = stack.api.get(f"/devices/{raspberry_id}").json()
    assert (device["wifi_status"], device["cpu_percent"], device["cpu_temp"], device["net_bytes_sent"]) == (
        "connected", 20.0, "51°C", 7)
    # Unknown fields: the newest message's are kept (across batches they replace earlier ones; within one
    # batch they are merged key by key).
    assert device["extra"]["board"] == "pi4"


def test_a_silent_device_becomes_stale(stack: Stack) -> None:
    """Breach caught: `stale` never set (or set on devices that just reported). An API with DEVICE_STALE_AFTER
    of 1 s sees the device go stale once it has been silent that long, while the default API (300 s) does not."""
    raspberry_id = f"stale-{uuid.uuid4().hex[:8]}"
    marker = f"wifi-{raspberry_id}"
    assert run_task(stack, stack.api.post("/devices/health", json={"id": raspberry_id, "wifi_status": marker}))[
        "state"] == "SUCCESS"
    impatient = stack.start_api(name="api-stale-1s", DEVICE_STALE_AFTER="1")
    try:
        wait_until(lambda: impatient.get(f"/devices/{raspberry_id}").json()["stale"] is True, timeout=30,
                   interval=0.2, what="the device to become stale")
        stale = impatient.get("/devices", params={"wifi_status": marker, "stale": "true"}).json()
        assert [d["raspberry_id"] for d in stale["items"]] == [raspberry_id] and stale["stale_after_s"] == 1
        assert impatient.get("/devices", params={"wifi_status": marker, "stale": "false"}).json()["total"] == 0
    finally:
        impatient.close()
        stack.supervisor.stop("api-stale-1s")
    assert stack.api.get(f"/devices/{raspberry_id}").json()["stale"] is False


def test_the_devices_list_pages_with_offset(stack: Stack) -> None:
    """Breach caught: `offset` ignored or pages overlapping: five devices, read two at a time."""
    marker = f"page-{uuid.uuid4().hex[:8]}"
    ids = sorted(f"{marker}-{n}" for n in range(5))
    for raspberry_id in ids:
        run_task(stack, stack.api.post("/devices/health", json={"id": raspberry_id, "wifi_status": marker}))
    pages = [stack.api.get("/devices", params={"wifi_status": marker, "limit": 2, "offset": o}).json()
             for o in (0, 2, 4, 6)]
    assert [p["total"] for p in pages] == [5] * 4 and [p["offset"] for p in pages] == [0, 2, 4, 6]
    assert [d["raspberry_id"] for p in pages for d in p["items"]] == ids


def test_the_recent_messages_are_bounded_by_device_messages_kept(stack: Stack) -> None:
    """Breach caught: the raw-message list growing without bound: 300 messages published in two rounds (so in
    separate batches: one batch alone is cut to the bound before it is written), at most DEVICE_MESSAGES_KEPT
    (200) kept, the newest of them first."""
    require_amqp(stack)
    marker = f"bound-{uuid.uuid4().hex[:8]}"
    for first in (0, 150):
        publish_rasp_data(stack, [{"id": f"{marker}-{n}", "cpu_percent": float(n)} for n in range(first, first + 150)])
        wait_until(lambda last=first + 149: stack.api.get(f"/devices/{marker}-{last}").status_code == 200,
                   timeout=60, interval=0.2, what=f"message {first + 149}")
    assert count_rows(stack, "SELECT count(*) FROM device_messages") <= 200
    messages = stack.api.get("/devices/messages", params={"limit": 1000}).json()
    ours = [m["raspberry_id"] for m in messages if m["raspberry_id"].startswith(marker)]
    assert ours == [f"{marker}-{n}" for n in range(299, 99, -1)]
