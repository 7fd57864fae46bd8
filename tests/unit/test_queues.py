"""Queues and routes: every task name maps to a declared queue, declared right for each broker."""

from __future__ import annotations

import pytest
from celery.app.routes import MapRoute

from taskplatform.messaging.queues import (
    DEAD_LETTER_EXCHANGE,
    DEAD_LETTER_QUEUE,
    ROUTES,
    TASK_EXCHANGE,
    TASK_QUEUES,
    build_task_queues,
    dead_letter_queue,
    queue_for,
    task_routes,
)

EXPECTED = {
    "housing.train": "training",
    "housing.predict": "predictions",
    "churn.retrain": "training",
    "churn.predict": "training",
    "checkins.ingest_batch": "checkins",
    "reports.weekly": "reports",
    "maintenance.purge_expired": "reports",
    "textgen.generate": "textgen",
    "sessions.process": "sessions",
    "devices.sync": "devices",
}


@pytest.mark.parametrize(("name", "queue"), EXPECTED.items())
def test_queue_for_domain_routes(name: str, queue: str) -> None:
    assert queue_for(name) == queue


def test_every_route_is_exercised_and_targets_a_declared_queue() -> None:
    domains = {name.split(".", 1)[0] for name in EXPECTED}
    assert {pattern.split(".", 1)[0] for pattern in ROUTES} == domains
    assert set(ROUTES.values()) <= set(TASK_QUEUES)


@pytest.mark.parametrize("name", ["housing.evaluate", "billing.charge", "unknown", "checkins"])
def test_unknown_task_name_raises_a_helpful_key_error(name: str) -> None:
    with pytest.raises(KeyError, match=rf"no queue is routed for task '{name}'.*taskplatform/messaging/queues\.py"):
        queue_for(name)


@pytest.mark.parametrize("name", EXPECTED)
def test_queue_for_agrees_with_celerys_router(name: str) -> None:
    route = MapRoute(task_routes())(name)
    assert route == {"queue": queue_for(name), "routing_key": queue_for(name)}


def test_amqp_queues_are_durable_quorum_queues_with_dead_lettering() -> None:
    queues = build_task_queues("amqp")
    assert [q.name for q in queues] == list(TASK_QUEUES)
    for q in queues:
        assert q.durable
        assert q.routing_key == q.name
        assert q.exchange.name == TASK_EXCHANGE
        assert q.exchange.type == "topic"
        assert q.exchange.durable
        assert q.queue_arguments == {
            "x-queue-type": "quorum",
            "x-delivery-limit": 20,
            "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
            "x-dead-letter-routing-key": q.name,
        }


def test_redis_queues_are_plain() -> None:
    queues = build_task_queues("redis")
    assert [q.name for q in queues] == list(TASK_QUEUES)
    for q in queues:
        assert q.routing_key == q.name
        assert not q.queue_arguments
        assert q.exchange.name != TASK_EXCHANGE


def test_dead_letter_queue_collects_everything_from_the_dead_letter_exchange() -> None:
    q = dead_letter_queue()
    assert q.name == DEAD_LETTER_QUEUE
    assert (q.exchange.name, q.exchange.type, q.routing_key) == (DEAD_LETTER_EXCHANGE, "topic", "#")
    assert q.durable
    assert q.queue_arguments == {"x-queue-type": "quorum"}


def test_broker_object_names_are_the_deployed_ones() -> None:
    """Breach caught: a refactor renaming a queue or exchange (a module move once rewrote the dead-letter queue's
    name): RabbitMQ would declare a new, empty queue and leave the deployed one's messages unread."""
    from taskplatform.devices.raw_queue import RASP_DATA
    from taskplatform.messaging.queues import DEAD_LETTER_EXCHANGE, DEAD_LETTER_QUEUE, TASK_EXCHANGE
    from taskplatform.sessions.raw_queue import RAW_SESSIONS, RAW_SESSIONS_DLQ

    assert (TASK_EXCHANGE, DEAD_LETTER_EXCHANGE, DEAD_LETTER_QUEUE) == ("taskplatform", "taskplatform.dlx",
                                                                       "taskplatform.dead_letters")
    assert (RASP_DATA.name, RAW_SESSIONS.name, RAW_SESSIONS_DLQ.name) == ("rasp_data", "raw_sessions",
                                                                          "raw_sessions.dlq")
    assert RAW_SESSIONS_DLQ.exchange.name == "raw_sessions.dlx"
