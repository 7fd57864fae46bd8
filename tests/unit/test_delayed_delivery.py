"""The worker's delayed-delivery step: one node of a cluster that answers is enough, the connected one first."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from celery import Celery

from taskplatform.messaging.delayed_delivery import CELERY_STEP, ClusterDelayedDelivery, urls_in_trying_order
from taskplatform.messaging.worker_consumer import Consumer

URLS = "amqp://u:p@10.0.0.1:5672//;amqp://u:p@10.0.0.2:5672//;amqp://u:p@10.0.0.3:5672//"


def test_the_connected_node_is_tried_first_then_the_others_in_order() -> None:
    assert urls_in_trying_order(URLS, "10.0.0.2") == ["amqp://u:p@10.0.0.2:5672//", "amqp://u:p@10.0.0.1:5672//",
                                                      "amqp://u:p@10.0.0.3:5672//"]
    assert urls_in_trying_order(URLS, None) == URLS.split(";")


def test_the_workers_consumer_runs_this_step_instead_of_celerys() -> None:
    steps = Consumer.Blueprint.default_steps
    assert CELERY_STEP not in steps
    assert "taskplatform.messaging.delayed_delivery:ClusterDelayedDelivery" in steps


def test_a_dead_node_is_tried_once_and_the_first_node_that_answers_ends_the_setup(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Breach caught: Celery's step retried a dead node with sleeps (1 + 3 + 5 s) and then set up every other node
    too, while the worker processed nothing."""
    tried: list[str] = []

    def setup(_self: Any, _consumer: Any, url: str) -> None:
        tried.append(url)
        if "10.0.0.1" in url:
            raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(ClusterDelayedDelivery, "_setup_delayed_delivery", setup)
    monkeypatch.setattr(ClusterDelayedDelivery, "_validate_configuration", lambda _self, _app: None)
    consumer = SimpleNamespace(app=SimpleNamespace(conf=SimpleNamespace(broker_url=URLS)),
                               connection=SimpleNamespace(hostname="10.0.0.1"))
    step = ClusterDelayedDelivery.__new__(ClusterDelayedDelivery)
    step.start(consumer)
    assert tried == ["amqp://u:p@10.0.0.1:5672//", "amqp://u:p@10.0.0.2:5672//"]


def test_the_workers_monitoring_events_wait_for_no_publisher_confirm() -> None:
    """Task messages are published with confirms; the worker's events (Celery's `Events` step, the consumer's only
    caller of `connection_for_write`) are not, so its own thread never waits for a broker round trip per flush."""
    app = Celery("confirms", broker="amqp://guest:guest@127.0.0.1:1//")
    app.conf.broker_transport_options = {"confirm_publish": True, "max_retries": 1}
    consumer = SimpleNamespace(app=app, ensure_connected=lambda connection: connection)
    events = Consumer.connection_for_write(consumer, heartbeat=4)
    assert events.transport_options == {"confirm_publish": False, "max_retries": 1}
    assert app.connection_for_write().transport_options["confirm_publish"] is True
