"""Faults: a worker killed mid-ingest loses nothing and applies nothing twice, on either broker."""

from __future__ import annotations

import signal

import pytest
import redis

from taskplatform.dev.processes import wait_until
from taskplatform.messaging.queues import TASK_DELIVERY_LIMIT
from tests.integration.helpers import (
    accepted_task,
    checkin_batch,
    checkins_of,
    deliver_until_dead_lettered,
    new_student_ids,
    run_task,
    wait_dead_letter,
)
from tests.integration.producers import require_amqp
from tests.integration.stack import Stack

pytestmark = pytest.mark.slow


def test_sigkill_mid_ingest_then_restart_stores_every_checkin_exactly_once(stack: Stack) -> None:
    """Breach caught: a task message lost with its killed worker (acked early, or not returned): every one of the
    200,000 distinct check-ins must be stored and every interrupted task delivered again.

    It cannot catch a check-in stored twice: (student, instant) is unique, so a second insert is refused and
    only counted as a duplicate; the count of rows can show loss, never duplication."""
    ids = new_student_ids(stack.api, 2_000)
    rows = checkin_batch(ids, per_student=100)
    assert len(rows) == 200_000
    task_ids = []
    # Posted while the worker is frozen (SIGSTOP): it drains batches about as fast as they are posted, so without
    # a backlog the kill could come after the last one (a run found nothing STARTED to interrupt).
    stack.supervisor.kill("worker", signal.SIGSTOP)
    try:
        for start in range(0, len(rows), 10_000):
            response = stack.api.post("/checkin/batch", json=rows[start:start + 10_000])
            assert response.status_code == 202
            task_ids.append(response.json()["task_id"])
    finally:
        stack.supervisor.kill("worker", signal.SIGCONT)

    def running() -> list[str]:
        items = stack.api.get("/tarefas", params={"state": "STARTED", "limit": 500}).json()["items"]
        return [item["task_id"] for item in items if item["task_id"] in task_ids]

    wait_until(lambda: bool(running()), timeout=60, interval=0.01, what="an ingest task to start")
    stack.kill_worker()
    interrupted = running()
    assert interrupted, "the worker finished before it was killed; nothing was interrupted"
    unfinished = [t for t in task_ids if stack.api.get(f"/tarefa/{t}").json()["state"] != "SUCCESS"]
    assert unfinished, "every task had finished before the kill"

    stack.start_worker()
    records = stack.wait_tasks(task_ids, timeout=180)
    assert [r["state"] for r in records] == ["SUCCESS"] * len(task_ids)
    assert checkins_of(stack, ids) == 200_000
    # The interrupted tasks ran again (a second delivery) rather than being lost.
    attempts = {r["task_id"]: r["attempts"] for r in records}
    assert all(attempts[t] >= 2 for t in interrupted), attempts
    assert sum(r["result"]["inserted"] for r in records) == 200_000 - sum(
        r["result"]["duplicates"] for r in records)


def test_a_message_lost_with_a_killed_worker_is_published_again_from_the_ledger(stack: Stack) -> None:
    """Redis: a worker killed after popping a message but before noting it as unacknowledged takes it along.
    Here the message is taken out of the broker by hand, as that worker would have; the ledger's copy brings
    the task back."""
    if stack.broker_kind != "redis":
        pytest.skip("RabbitMQ keeps a delivered message until it is acknowledged")
    ids = new_student_ids(stack.api, 1)
    stack.stop_worker()
    try:
        accepted = stack.api.post("/checkin/batch", json=[{"aluno_id": ids[0]}]).json()
        broker = redis.Redis.from_url(stack.env["BROKER_URL"])
        messages = broker.lrange("checkins", 0, -1)
        ours = [m for m in messages if accepted["task_id"].encode() in m]
        assert len(ours) == 1, "the message should be waiting in the checkins list"
        assert broker.lrem("checkins", 0, ours[0]) == 1
        broker.close()
    finally:
        stack.start_worker()
    [record] = stack.wait_tasks([accepted["task_id"]], timeout=120)
    assert record["state"] == "SUCCESS" and record["result"]["inserted"] == 1, record
    assert record["redelivered_at"] is not None and record["attempts"] == 1
    assert checkins_of(stack, ids) == 1


def test_a_task_past_the_delivery_limit_becomes_a_dead_letter_and_replays_by_name(stack: Stack) -> None:
    """Breach caught: a crash-looping task message dropped by RabbitMQ (no dead-letter exchange on the task
    queues, or nothing consuming taskplatform.dead_letters.store) instead of kept. The message is delivered and
    returned, as a worker dying on it would, until RabbitMQ stops delivering it; it must land in the dead-letter
    store under its task name, and replaying it applies the check-in."""
    require_amqp(stack)
    [student] = new_student_ids(stack.api, 1)
    stack.stop_worker()
    try:
        task_id = accepted_task(stack.api.post("/checkin/batch", json=[
            {"aluno_id": student, "data_hora": "2026-11-20T09:15:00+00:00"}]))
        deliveries = deliver_until_dead_lettered(stack, "checkins", task_id, limit=TASK_DELIVERY_LIMIT)
    finally:
        stack.start_worker()
    assert deliveries == TASK_DELIVERY_LIMIT + 1
    letter = wait_dead_letter(stack, f"[{student}]", queue="checkins", reason="delivery_limit")
    assert letter["task_name"] == "checkins.ingest_batch" and letter["attempts"] == TASK_DELIVERY_LIMIT + 1, letter
    assert checkins_of(stack, [student]) == 0
    replayed = run_task(stack, stack.api.post(f"/dead-letters/{letter['id']}/replay"))
    assert replayed["state"] == "SUCCESS" and replayed["name"] == "checkins.ingest_batch", replayed
    assert checkins_of(stack, [student]) == 1
