"""Test data builders and the checks the integration tests share (rows, dead letters, devices, queues)."""

from __future__ import annotations

import base64
import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import redis
from sqlalchemy import text

from taskplatform.dev.processes import wait_until
from tests.integration.producers import amqp_connection
from tests.integration.stack import Stack

_ids = itertools.count(1)


def new_student_ids(api: httpx.Client, count: int) -> list[int]:
    """Register `count` students with ids no other test uses, and return the ids."""
    base = next(_ids) * 1_000_000
    ids = list(range(base, base + count))
    for start in range(0, count, 10_000):
        response = api.post("/alunos", json=[{"aluno_id": i, "nome": f"aluno {i}"} for i in ids[start:start + 10_000]])
        assert response.status_code == 200, response.text
    return ids


def checkin_batch(ids: list[int], per_student: int, day: datetime | None = None) -> list[dict[str, Any]]:
    """Check-ins with explicit instants, distinct per (student, instant)."""
    day = day or datetime(2026, 11, 20, 6, tzinfo=UTC)
    return [{"aluno_id": i, "data_hora": (day + timedelta(minutes=k, seconds=n % 60)).isoformat()}
            for n, i in enumerate(ids) for k in range(per_student)]


def count_rows(stack: Stack, sql: str, **params: Any) -> int:
    """`SELECT count(*) ...` on the stack's database."""
    with stack.engine.connect() as connection:
        return int(connection.execute(text(sql), params).scalar_one())


def checkins_of(stack: Stack, ids: list[int]) -> int:
    """Check-ins stored for the students `ids` (a contiguous range from `new_student_ids`)."""
    return count_rows(stack, "SELECT count(*) FROM checkins WHERE aluno_id BETWEEN :lo AND :hi",
                      lo=min(ids), hi=max(ids))


def devices_with_prefix(stack: Stack, prefix: str) -> dict[str, float | None]:
    """raspberry_id -> cpu_percent of every device whose id starts with `prefix`, read from the database."""
    with stack.engine.connect() as connection:
        rows = connection.execute(text("SELECT raspberry_id, cpu_percent FROM device_status "
                                       "WHERE raspberry_id LIKE :p"), {"p": f"{prefix}%"}).all()
    return {str(rid): cpu for rid, cpu in rows}


def dead_letters_with(stack: Stack, marker: str, **filters: Any) -> list[dict[str, Any]]:
    """Dead letters (newest first) whose body contains `marker`, with optional `queue`/`reason` filters."""
    items = stack.api.get("/dead-letters", params={"limit": 1000, **filters}).json()["items"]
    return [item for item in items if marker in item["body"]]


def wait_dead_letter(stack: Stack, marker: str, *, timeout: float = 60, **filters: Any) -> dict[str, Any]:
    """The first dead letter whose body contains `marker`, once it is there."""
    wait_until(lambda: bool(dead_letters_with(stack, marker, **filters)), timeout=timeout, interval=0.5,
               what=f"a dead letter with {marker!r} {filters}")
    return dead_letters_with(stack, marker, **filters)[0]


def wait_device(stack: Stack, raspberry_id: str, *, timeout: float = 30) -> dict[str, Any]:
    """`GET /devices/{id}` once the device has reported."""
    found: dict[str, Any] = {}

    def present() -> bool:
        nonlocal found
        response = stack.api.get(f"/devices/{raspberry_id}")
        found = response.json() if response.status_code == 200 else {}
        return bool(found)

    wait_until(present, timeout=timeout, what=f"device {raspberry_id}")
    return found


def accepted_task(response: httpx.Response) -> str:
    """The task id of a 202."""
    assert response.status_code == 202, response.text
    return str(response.json()["task_id"])


def run_task(stack: Stack, response: httpx.Response, *, timeout: float = 60) -> dict[str, Any]:
    """Wait for the task a 202 accepted, and return its final record."""
    return stack.wait_task(accepted_task(response), timeout=timeout)


def queue_depth(stack: Stack, queue: str) -> int:
    """Messages ready in a broker queue: a passive declare on RabbitMQ, LLEN on Redis."""
    if stack.broker_kind == "amqp":
        connection = amqp_connection(stack)
        try:
            return int(connection.channel().queue_declare(queue=queue, passive=True).method.message_count)
        finally:
            connection.close()
    client = redis.Redis.from_url(stack.env["BROKER_URL"])
    try:
        return int(client.llen(queue))
    finally:
        client.close()


def task_message_kwargs(stack: Stack, queue: str, task_id: str) -> dict[str, Any]:
    """The kwargs of task `task_id` as its message waits in `queue` (no worker may be consuming it); the message
    stays in the queue."""
    if stack.broker_kind == "redis":
        client = redis.Redis.from_url(stack.env["BROKER_URL"])
        try:
            envelopes = [json.loads(raw) for raw in client.lrange(queue, 0, -1)]
        finally:
            client.close()
        [envelope] = [e for e in envelopes if e["headers"]["id"] == task_id]
        return dict(json.loads(base64.b64decode(envelope["body"]))[1])
    connection = amqp_connection(stack)
    try:
        channel = connection.channel()
        held = []
        try:
            while True:
                method, properties, body = channel.basic_get(queue)
                if method is None:
                    raise AssertionError(f"task {task_id} is not in {queue}")
                held.append(method.delivery_tag)
                if (properties.headers or {}).get("id") == task_id:
                    return dict(json.loads(body)[1])
        finally:
            for tag in held:
                channel.basic_nack(tag, requeue=True)
    finally:
        connection.close()


def deliver_until_dead_lettered(stack: Stack, queue: str, task_id: str, *, limit: int) -> int:
    """A crash-looping consumer: take task `task_id` from `queue` and return it, until RabbitMQ stops
    delivering it (its delivery limit); returns the number of deliveries."""
    connection = amqp_connection(stack)
    deliveries = 0
    try:
        channel = connection.channel()

        def delivered_again() -> bool:
            nonlocal deliveries
            method, properties, _ = channel.basic_get(queue)
            if method is None:
                return deliveries > limit
            if (properties.headers or {}).get("id") != task_id:
                raise AssertionError(f"{queue} holds another message: {properties.headers}")
            deliveries += 1
            channel.basic_reject(method.delivery_tag, requeue=True)
            return False

        wait_until(delivered_again, timeout=60, interval=0.01, what=f"task {task_id} past its delivery limit")
    finally:
        connection.close()
    return deliveries
