"""The liveness probe's count of waiting messages on a real Redis broker (the embedded Valkey): kombu keeps one list
per priority step, and the probe must count every one, or a worker that takes nothing while prioritised messages
wait would be judged idle, not stuck."""

from __future__ import annotations

import uuid

from kombu import Connection, Exchange, Queue

from taskplatform.core.settings import Settings
from taskplatform.messaging.liveness_probe import ready_messages
from tests.integration.conftest import STACKS, Embedded

#: A database index no test stack uses (each stack takes its position in STACKS).
DB = len(STACKS) + 5


def _settings(broker_url: str) -> Settings:
    return Settings(_env_file=None, broker_url=broker_url)


def test_every_priority_list_of_a_queue_is_counted_and_an_unknown_queue_has_none(embedded: Embedded) -> None:
    url = f"{embedded.redis_url}/{DB}"
    name = f"liveness-{uuid.uuid4().hex[:8]}"
    queue = Queue(name, Exchange(name, type="direct"), routing_key=name)
    with Connection(url) as connection:
        producer = connection.Producer()
        for n, priority in enumerate((0, 0, 3, 6, 9)):
            producer.publish({"n": n}, exchange=queue.exchange, routing_key=name, declare=[queue], priority=priority)
        lists = connection.default_channel.client.keys(f"{name}*")
    assert len(lists) > 1  # the messages really were spread over several lists: what the probe must add up

    counts = ready_messages(_settings(url), [name, f"never-{name}"], timeout=5)
    assert counts == {name: 5, f"never-{name}": 0}


def test_an_unreachable_redis_is_reported_as_unknown(embedded: Embedded) -> None:
    # A closed port on loopback: the probe says it could not ask, rather than "no messages wait".
    host = embedded.redis_url.rsplit(":", 1)[0]
    assert ready_messages(_settings(f"{host}:1/{DB}"), ["checkins"], timeout=2) is None
