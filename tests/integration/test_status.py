"""`/status` and `/celery-status`: what they report, and that asking them often starves nothing else."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import httpx

from taskplatform.dev.processes import wait_until
from taskplatform.messaging.queues import TASK_QUEUES
from tests.integration.conftest import Embedded
from tests.integration.stack import Stack

#: Client timeouts: a hang detector, far above the figures `bench/status.py` measures.
HANG = 30.0


def test_celery_status_lists_the_running_worker_with_its_queues_pid_and_concurrency(stack: Stack) -> None:
    """Breach caught: an inspect round that loses a reply (a worker missing, its queues or pool unknown)."""
    body: dict = {}

    def listed() -> bool:  # a worker slower than CELERY_STATUS_TIMEOUT_S on a busy machine is missed once
        nonlocal body
        body = stack.api.get("/celery-status").json()
        return stack.worker_name in body["workers"]

    wait_until(listed, timeout=30, interval=0.5, what="the worker in /celery-status")
    assert body["ok"] is True
    worker = body["workers"][stack.worker_name]
    assert set(worker["queues"]) == set(TASK_QUEUES)
    assert worker["concurrency"] == 2
    assert worker["pid"] == stack.supervisor.get("worker").popen.pid
    assert {"checkins.ingest_batch", "reports.daily", "housing.predict"} <= set(worker["registered_tasks"])
    assert isinstance(worker["active"], int) and isinstance(worker["reserved"], int)
    assert body["age_s"] >= 0 and body["cached_at"]


def test_status_is_503_with_a_reason_while_the_object_store_is_down(stack: Stack, embedded: Embedded) -> None:
    """Breach caught: `/status` answering 200 (or hanging) while S3 is unreachable."""
    embedded.stop_s3()
    try:
        response = stack.api.get("/status", timeout=HANG)
    finally:
        embedded.start_s3()
    body = response.json()
    assert response.status_code == 503, body
    assert body["ok"] is False and body["object_store"]["ok"] is False and body["object_store"]["reason"]
    assert body["broker"]["ok"] is True and body["database"]["ok"] is True


def test_concurrent_celery_status_calls_leave_status_and_enqueue_answering(stack: Stack) -> None:
    """Breach caught: inspect rounds holding the producer pool's broker connections, so that a burst of
    `/celery-status` calls hangs every enqueue and `/status` (issue 9, item 1: ten calls hung the API)."""
    url = stack.api_url

    def celery_status(_: int) -> httpx.Response:
        with httpx.Client(base_url=url, timeout=HANG) as client:
            return client.get("/celery-status")

    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(celery_status, range(12)))
    assert [a.status_code for a in answers] == [200] * 12
    assert len({a.json()["cached_at"] for a in answers}) <= 2  # one round served them (two if one just expired)
    with httpx.Client(base_url=url, timeout=HANG) as client:
        status = client.get("/status")
        assert status.status_code == 200, status.text
        accepted = client.post("/relatorio/diario")
        assert accepted.status_code == 202, accepted.text
    assert stack.wait_task(accepted.json()["task_id"])["state"] == "SUCCESS"


def test_an_enqueue_to_an_unreachable_broker_is_a_503_with_the_reason(stack: Stack) -> None:
    """Breach caught: an enqueue that hangs (or answers 500) while the broker refuses connections, or leaves a
    QUEUED record behind for a task that was never published."""
    refused = "amqp://guest:guest@127.0.0.1:1/" if stack.broker_kind == "amqp" else "redis://127.0.0.1:1/0"
    api = stack.start_api(name="api-no-broker", BROKER_URL=refused)
    since = datetime.now(UTC).isoformat()
    try:
        response = api.post("/relatorio/diario", timeout=HANG * 2)  # Redis: the result store retries for ~20 s
        assert response.status_code == 503, response.text
        # RabbitMQ: "Connection refused"; Redis, in a process that never reached it: the result store's
        # "Retry limit exceeded" (its reconnection is tried first, for about 20 s).
        assert response.json()["detail"].startswith("the broker did not accept task reports.daily: ")
        assert any(reason in response.json()["detail"] for reason in ("Connection refused", "Retry limit exceeded"))
        assert response.headers["retry-after"] == "1"
        assert api.get("/tarefas", params={"name": "reports.daily", "since": since}).json()["items"] == []
    finally:
        stack.supervisor.stop("api-no-broker")


def test_status_without_workers_is_the_apis_readiness_while_no_worker_runs(stack: Stack) -> None:
    """Breach caught: an API probe that depends on the workers (docker/k8s's readiness uses
    `/status?workers=false`): with every worker stopped, `/status` says 503 naming the workers, and the API is
    still ready to accept work, which waits in its queue until a worker is back."""
    stack.stop_worker()
    try:
        def workers_missing() -> bool:  # the inspection cache may still hold the running worker for a few seconds
            return stack.api.get("/status", timeout=HANG).status_code == 503

        wait_until(workers_missing, timeout=30, interval=0.5, what="/status to miss the stopped worker")
        full = stack.api.get("/status", timeout=HANG).json()
        assert full["workers"]["ok"] is False and full["broker"]["ok"] and full["database"]["ok"], full
        ready = stack.api.get("/status", params={"workers": "false"}, timeout=HANG)
        assert ready.status_code == 200, ready.text
        assert ready.json()["ok"] is True and "workers" not in ready.json()
    finally:
        stack.start_worker()
