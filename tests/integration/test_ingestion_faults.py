"""Faults on the raw-JSON paths: nothing valid lost, nothing applied twice in effect."""

from __future__ import annotations

import json
import signal
import uuid

import pytest
from sqlalchemy import make_url

from taskplatform.dev.processes import wait_until
from tests.integration.conftest import Embedded
from tests.integration.helpers import dead_letters_with, devices_with_prefix, queue_depth, wait_dead_letter
from tests.integration.producers import publish_rasp_data, publish_raw_sessions, require_amqp
from tests.integration.service_control import restart_rabbitmq_app
from tests.integration.stack import Stack
from tests.integration.tcp_proxy import TcpProxy
from tests.services import REGISTRY

pytestmark = pytest.mark.slow


def _distinct_readings(prefix: str, count: int) -> dict[str, float]:
    """One device per message, each with its own value: a message lost is a device missing or a value wrong."""
    return {f"{prefix}-{n}": float(n) for n in range(count)}


def _publish_with_invalid(stack: Stack, readings: dict[str, float], marker: str, invalid: int) -> None:
    """The readings, with `invalid` bodies lacking an id spread among them (each must become a dead letter)."""
    bodies: list[dict] = [{"id": i, "cpu_percent": v} for i, v in readings.items()]
    step = max(1, len(bodies) // (invalid + 1))
    for k in range(invalid):
        bodies.insert((k + 1) * step + k, {"wifi_status": f"{marker}-bad-{k}"})
    publish_rasp_data(stack, bodies)


def _in_flight_when_hit(stack: Stack, prefix: str, published: int) -> tuple[int, int]:
    """(messages applied, messages still in the queue) right after a fault; both must show work in progress."""
    applied = len(devices_with_prefix(stack, prefix))
    depth = queue_depth(stack, "rasp_data")
    assert applied < published and depth > 0, (
        f"the fault hit no work in progress: {applied} of {published} applied, {depth} queued")
    return applied, depth


def _every_message_accounted_for(stack: Stack, prefix: str, readings: dict[str, float], marker: str,
                                 invalid: int) -> None:
    wait_until(lambda: devices_with_prefix(stack, prefix) == readings, timeout=180, interval=1,
               what=f"every one of the {len(readings)} readings published before the fault")
    for k in range(invalid):
        [letter, *_] = dead_letters_with(stack, f"{marker}-bad-{k}\"", queue="rasp_data")
        assert letter["reason"] == "invalid_message" and "id" in letter["error"], letter


def _first_batch_applied(stack: Stack, prefix: str) -> None:
    wait_until(lambda: bool(devices_with_prefix(stack, prefix)), timeout=60, interval=0.02, what="the first batch")


def _backlog_then_first_batch(stack: Stack, prefix: str, readings: dict[str, float], marker: str) -> None:
    """Publish while the running worker is frozen (SIGSTOP), let it go on and return once its first batch is
    applied. The consumer drains thousands of messages a second, as fast as they are published, so without a
    backlog a fault would find nothing left to hit; and the worker is already up, because one still starting
    defers a SIGTERM until it is, draining the queue meanwhile."""
    stack.supervisor.kill("worker", signal.SIGSTOP)
    try:
        _publish_with_invalid(stack, readings, marker, invalid=5)
    finally:
        stack.supervisor.kill("worker", signal.SIGCONT)
    _first_batch_applied(stack, prefix)


def test_sigkill_mid_device_batches_loses_nothing(stack: Stack) -> None:
    """Breach caught: a message acknowledged before its batch is committed (or a batch dropped when its worker
    dies): the worker is SIGKILLed while batches are in flight, and every message published before the kill
    must end up applied (each its own device and value) or a dead letter with its reason.

    It cannot catch a message applied twice: readings are upserts keyed by device id, so a second
    application leaves the same row (harmless by design, and invisible here)."""
    require_amqp(stack)
    prefix, marker = f"kill-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex[:8]
    readings = _distinct_readings(prefix, 20_000)
    _backlog_then_first_batch(stack, prefix, readings, marker)
    stack.kill_worker()
    _in_flight_when_hit(stack, prefix, len(readings))
    stack.start_worker()
    _every_message_accounted_for(stack, prefix, readings, marker, invalid=5)


def test_sigterm_mid_device_batches_finishes_or_returns_them(stack: Stack) -> None:
    """Breach caught: a warm shutdown that drops the batch in hand or the prefetched messages instead of
    applying them or returning them to the queue. Loss only: duplicates are invisible (upserts by id)."""
    require_amqp(stack)
    prefix, marker = f"term-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex[:8]
    readings = _distinct_readings(prefix, 20_000)
    _backlog_then_first_batch(stack, prefix, readings, marker)
    stack.stop_worker()  # SIGTERM: warm shutdown
    _in_flight_when_hit(stack, prefix, len(readings))
    stack.start_worker()
    _every_message_accounted_for(stack, prefix, readings, marker, invalid=5)


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
        found = wait_dead_letter(stack, session["session_uuid"], timeout=120, queue="raw_sessions",
                                 reason="delivery_limit")
    finally:
        stack.stop_worker()
        stack.start_worker()
    assert found["attempts"] >= 5
    replay = stack.api.post(f"/dead-letters/{found['id']}/replay")
    assert stack.wait_task(replay.json()["task_id"])["state"] == "SUCCESS"
    assert stack.api.get(f"/sessions/doomed/{session['session_uuid']}").status_code == 200


def test_a_broker_restart_loses_no_message(stack: Stack) -> None:
    """Breach caught: messages lost by a broker restart while they wait or are being applied (a transient
    queue, non-persistent messages, or unacknowledged messages dropped when the channel dies). The restart
    happens while the queue is not drained; afterwards every message published before it is applied or a
    dead letter, and the API publishes again."""
    require_amqp(stack)
    prefix, marker = f"restart-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex[:8]
    readings = _distinct_readings(prefix, 20_000)
    _backlog_then_first_batch(stack, prefix, readings, marker)
    _in_flight_when_hit(stack, prefix, len(readings))
    restart_rabbitmq_app()
    _every_message_accounted_for(stack, prefix, readings, marker, invalid=5)
    final = {f"{prefix}-final-{d}": 5e5 + d for d in range(50)}
    wait_until(lambda: _try_publish(stack, [{"id": i, "cpu_percent": v} for i, v in final.items()]), timeout=60,
               interval=1, what="the broker to accept messages again")
    wait_until(lambda: devices_with_prefix(stack, f"{prefix}-final-") == final, timeout=120, interval=0.5,
               what="every reading published after the restart")
    accepted = stack.api.post("/devices/health", json={"id": f"{prefix}-http", "wifi_status": "back"})
    assert accepted.status_code == 202 and stack.wait_task(accepted.json()["task_id"])["state"] == "SUCCESS"


def _try_publish(stack: Stack, bodies: list[dict]) -> bool:
    try:
        publish_rasp_data(stack, bodies)
    except Exception:
        return False
    return True


def test_device_messages_wait_out_a_database_outage(stack: Stack) -> None:
    """Breach caught: a batch acknowledged (or dead-lettered) while the database cannot be reached. The worker
    reaches PostgreSQL through a link the test cuts, so the outage hits this worker only, not the machine's server
    that the other test groups are using at the same time."""
    require_amqp(stack)
    prefix = f"dbdown-{uuid.uuid4().hex[:6]}"
    final = {f"{prefix}-{d}": 7e5 + d for d in range(30)}
    database = make_url(stack.env["DATABASE_URL"])
    with TcpProxy(database.host or "127.0.0.1", database.port or 5432) as link:
        through_link = database.set(host="127.0.0.1", port=link.port).render_as_string(hide_password=False)
        stack.stop_worker()
        stack.start_worker(DATABASE_URL=through_link)
        try:
            link.cut()
            publish_rasp_data(stack, [{"id": i, "cpu_percent": v} for i, v in final.items()])
            log = stack.supervisor.log_dir / "worker.log"  # type: ignore[operator]
            wait_until(lambda: "not applied; retrying" in log.read_text(errors="replace").split(prefix)[-1]
                       or "not applied; retrying" in log.read_text(errors="replace")[-20_000:],
                       timeout=60, what="the consumer to hold the batch")
            assert devices_with_prefix(stack, prefix) == {}
            link.restore()
            wait_until(lambda: devices_with_prefix(stack, prefix) == final, timeout=120, interval=0.5,
                       what="every reading after the database came back")
        finally:
            stack.stop_worker()
            stack.start_worker()
