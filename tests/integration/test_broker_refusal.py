"""The broker refuses a publish: the ledger record is removed, the client gets a 503, and a retry with the same
Idempotency-Key succeeds once the broker accepts messages again."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import unquote, urlsplit

import pytest
import redis
from amqp.exceptions import MessageNacked
from kombu.exceptions import OperationalError

from taskplatform.dev.processes import wait_until
from tests.integration.helpers import checkins_of, new_student_ids, run_task
from tests.integration.stack import Stack
from tests.services import REGISTRY

POLICY = "tests-refuse-checkins"


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=60)


def _probe_refused(stack: Stack, accepted: list[str]) -> bool:
    """Publish one harmless task (an empty batch) with confirms; True when the broker nacks it. The ids of the
    probes it accepted are added to `accepted`."""
    task_id = f"probe-{uuid.uuid4()}"
    try:
        stack.producer.send_task("checkins.ingest_batch", kwargs={"aluno_ids": [], "instants": []},
                                 task_id=task_id, queue="checkins", retry=False)
        accepted.append(task_id)
    except OperationalError as exc:  # kombu's wrapper of the nack
        if isinstance(exc.__cause__ or exc.__context__, MessageNacked):
            return True
        raise
    return False


@contextmanager
def _rabbitmq_refuses(stack: Stack, probes: list[str]) -> Iterator[None]:
    """A max-length 0, reject-publish policy on `checkins`: with confirms on, the broker nacks the publish.
    A quorum queue enforces the limit once it holds a message, so harmless probes are published until one is
    refused."""
    if shutil.which("rabbitmqctl") is None:
        REGISTRY.skipped["rabbitmq-policy"] = "rabbitmqctl is needed to make the broker refuse a publish"
        pytest.skip(REGISTRY.skipped["rabbitmq-policy"])
    vhost = unquote(urlsplit(stack.env["BROKER_URL"]).path[1:]) or "/"
    _rabbitmqctl("set_policy", "-p", vhost, "--apply-to", "queues", "--priority", "100", POLICY, "^checkins$",
                 json.dumps({"max-length": 0, "overflow": "reject-publish"}))
    try:
        wait_until(lambda: _probe_refused(stack, probes), timeout=30, interval=0.2,
                   what="the broker to refuse publishes")
        yield
    finally:
        _rabbitmqctl("clear_policy", "-p", vhost, POLICY)


@contextmanager
def _redis_refuses(stack: Stack) -> Iterator[None]:
    """Redis out of memory (maxmemory 1 byte, noeviction): every write, LPUSH included, is an OOM error."""
    client = redis.Redis.from_url(stack.env["BROKER_URL"])
    previous = client.config_get("maxmemory*")
    client.config_set("maxmemory-policy", "noeviction")
    client.config_set("maxmemory", 1)
    try:
        yield
    finally:
        client.config_set("maxmemory", previous.get("maxmemory", "0"))
        client.config_set("maxmemory-policy", previous.get("maxmemory-policy", "noeviction"))
        client.close()


def test_a_refused_publish_is_a_503_without_a_record_and_the_same_key_succeeds_later(stack: Stack) -> None:
    """Breach caught: a task recorded (or answered 202) although the broker refused its message. Were the
    QUEUED record kept, the retry with the same Idempotency-Key would return that task, which never runs;
    were the refusal not seen (no publisher confirms), the first request would be a 202 for a lost task."""
    [student] = new_student_ids(stack.api, 1)
    key = f"refused-{uuid.uuid4()}"
    body = [{"aluno_id": student, "data_hora": "2026-11-20T08:00:00+00:00"}]
    ledger_before = stack.api.get("/tarefas", params={"name": "checkins.ingest_batch", "limit": 1}).json()["total"]
    # The worker is stopped so the refusal does not depend on how fast it drains the queue.
    stack.stop_worker()
    probes: list[str] = []
    try:
        with _rabbitmq_refuses(stack, probes) if stack.broker_kind == "amqp" else _redis_refuses(stack):
            # With a key (the claim path) and without one (on PostgreSQL, the record's own autocommit statement).
            for headers in ({"Idempotency-Key": key}, {}):
                refused = stack.api.post("/checkin/batch", json=body, headers=headers)
                assert refused.status_code == 503, (headers, refused.text)
                assert "broker did not accept" in refused.json()["detail"]
            total = stack.api.get("/tarefas", params={"name": "checkins.ingest_batch", "limit": 1}).json()["total"]
            assert total == ledger_before, "the refused task must leave no record"
    finally:
        stack.start_worker()
    retried = stack.api.post("/checkin/batch", json=body, headers={"Idempotency-Key": key})
    record = run_task(stack, retried)
    assert record["state"] == "SUCCESS" and record["result"]["inserted"] == 1, record
    again = stack.api.post("/checkin/batch", json=body, headers={"Idempotency-Key": key})
    assert again.json()["task_id"] == retried.json()["task_id"]
    assert checkins_of(stack, [student]) == 1
    for probe in probes:  # leave no task of this test running into the next one
        stack.wait_task(probe)
