"""Faults on the raw-JSON paths: nothing valid lost, nothing applied twice in effect."""

from __future__ import annotations

import json
import uuid

import pytest

from taskplatform.processes import wait_until
from tests.integration.conftest import Embedded
from tests.integration.producers import publish_rasp_data, publish_raw_sessions, require_amqp
from tests.integration.service_control import restart_rabbitmq_app, start_postgres, stop_postgres
from tests.integration.stack import Stack
from tests.services import REGISTRY

pytestmark = pytest.mark.slow


def _final_readings_applied(stack: Stack, final: dict[str, float]) -> bool:
    listed = stack.api.get("/devices", params={"limit": 1000}).json()["items"]
    seen = {d["raspberry_id"]: d["cpu_percent"] for d in listed}
    return all(seen.get(i) == v for i, v in final.items())


def _readings(prefix: str, count: int, devices: int, base: float = 0.0) -> list[dict]:
    return [{"id": f"{prefix}-{n % devices}", "cpu_percent": base + n} for n in range(count)]


def test_sigkill_mid_device_batches_loses_nothing(stack: Stack) -> None:
    require_amqp(stack)
    prefix = f"kill-{uuid.uuid4().hex[:6]}"
    publish_rasp_data(stack, _readings(prefix, 20_000, 200))
    wait_until(lambda: stack.api.get(f"/devices/{prefix}-0").status_code == 200, timeout=30, interval=0.02,
               what="the first batch")
    stack.kill_worker()
    stack.start_worker()
    final = {f"{prefix}-{d}": 1e6 + d for d in range(200)}
    publish_rasp_data(stack, [{"id": i, "cpu_percent": v} for i, v in final.items()])
    wait_until(lambda: _final_readings_applied(stack, final), timeout=90, interval=0.5,
               what="every device's final reading")


def test_sigterm_mid_device_batches_finishes_or_returns_them(stack: Stack) -> None:
    require_amqp(stack)
    prefix = f"term-{uuid.uuid4().hex[:6]}"
    publish_rasp_data(stack, _readings(prefix, 20_000, 100))
    wait_until(lambda: stack.api.get(f"/devices/{prefix}-0").status_code == 200, timeout=30, interval=0.02,
               what="the first batch")
    stack.stop_worker()  # SIGTERM: warm shutdown
    stack.start_worker()
    final = {f"{prefix}-{d}": 2e6 + d for d in range(100)}
    publish_rasp_data(stack, [{"id": i, "cpu_percent": v} for i, v in final.items()])
    wait_until(lambda: _final_readings_applied(stack, final), timeout=90, interval=0.5,
               what="every device's final reading")


def test_sessions_wait_while_the_object_store_is_down_then_all_are_stored(stack: Stack, embedded: Embedded) -> None:
    require_amqp(stack)
    sessions = [{"user_id": "outage", "session_uuid": str(uuid.uuid4()), "events": [n]} for n in range(20)]
    embedded.stop_s3()
    try:
        publish_raw_sessions(stack, sessions)
        log = stack.supervisor.log_dir / "worker.log"  # type: ignore[operator]
        wait_until(lambda: log.read_text(errors="replace").count("upload of sessions/outage/") >= len(sessions),
                   timeout=60, what="every upload to fail while the store is down")
    finally:
        embedded.start_s3()
    wait_until(lambda: all(stack.api.get(f"/sessions/outage/{s['session_uuid']}").status_code == 200
                           for s in sessions), timeout=120, interval=0.5, what="every session to be stored")
    stored = [json.loads(stack.api.get(f"/sessions/outage/{s['session_uuid']}").content) for s in sessions]
    assert stored == sessions


def test_a_session_that_keeps_failing_lands_in_the_dead_letter_store(stack: Stack) -> None:
    require_amqp(stack)
    if stack.policy_problem:
        REGISTRY.skipped["rabbitmq-policy"] = stack.policy_problem
        pytest.skip(stack.policy_problem)
    session = {"user_id": "doomed", "session_uuid": str(uuid.uuid4()), "events": []}
    stack.stop_worker()
    # A worker whose object-store credentials are refused: every upload fails at once.
    stack.start_worker(queues=("sessions",), S3_SECRET_KEY="refused-secret")
    try:
        publish_raw_sessions(stack, [session])

        def letter() -> dict | None:
            items = stack.api.get("/dead-letters", params={"queue": "raw_sessions", "reason": "delivery_limit"}).json()
            return next((i for i in items["items"] if session["session_uuid"] in i["body"]), None)

        wait_until(lambda: letter() is not None, timeout=120, interval=0.5, what="the dead letter")
    finally:
        stack.stop_worker()
        stack.start_worker()
    found = letter()
    assert found is not None and found["attempts"] >= 5
    replay = stack.api.post(f"/dead-letters/{found['id']}/replay")
    assert stack.wait_task(replay.json()["task_id"])["state"] == "SUCCESS"
    assert stack.api.get(f"/sessions/doomed/{session['session_uuid']}").status_code == 200


def test_a_broker_restart_loses_no_message(stack: Stack) -> None:
    require_amqp(stack)
    prefix = f"restart-{uuid.uuid4().hex[:6]}"
    publish_rasp_data(stack, _readings(prefix, 500, 50))
    restart_rabbitmq_app()
    final = {f"{prefix}-{d}": 5e5 + d for d in range(50)}
    wait_until(lambda: _try_publish(stack, [{"id": i, "cpu_percent": v} for i, v in final.items()]), timeout=60,
               interval=1, what="the broker to accept messages again")
    wait_until(lambda: _final_readings_applied(stack, final), timeout=120, interval=0.5,
               what="every device's final reading after the restart")
    accepted = stack.api.post("/devices/health", json={"id": f"{prefix}-http", "wifi_status": "back"})
    assert accepted.status_code == 202 and stack.wait_task(accepted.json()["task_id"])["state"] == "SUCCESS"


def _try_publish(stack: Stack, bodies: list[dict]) -> bool:
    try:
        publish_rasp_data(stack, bodies)
    except Exception:
        return False
    return True


def test_device_messages_wait_out_a_database_outage(stack: Stack) -> None:
    require_amqp(stack)
    prefix = f"dbdown-{uuid.uuid4().hex[:6]}"
    final = {f"{prefix}-{d}": 7e5 + d for d in range(30)}
    stop_postgres()
    try:
        publish_rasp_data(stack, [{"id": i, "cpu_percent": v} for i, v in final.items()])
        log = stack.supervisor.log_dir / "worker.log"  # type: ignore[operator]
        wait_until(lambda: "not applied; retrying" in log.read_text(errors="replace").split(prefix)[-1]
                   or "not applied; retrying" in log.read_text(errors="replace")[-20_000:],
                   timeout=60, what="the consumer to hold the batch")
    finally:
        start_postgres()
    wait_until(lambda: _final_readings_applied(stack, final), timeout=120, interval=0.5,
               what="every reading after the database came back")
