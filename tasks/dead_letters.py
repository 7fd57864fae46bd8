"""Moves messages RabbitMQ dead-lettered (past a delivery limit) into the dead-letter store."""

from __future__ import annotations

from typing import Any

from celery import bootsteps
from kombu import Consumer
from kombu.message import Message

from taskplatform.core.settings import get_settings
from taskplatform.dead_letters.store import NewDeadLetter, settle_as_dead_letter
from taskplatform.messaging import raw_queues
from taskplatform.messaging.celery_app import app
from taskplatform.messaging.queues import TASK_DELIVERY_LIMIT, TASK_QUEUES, dead_letter_queue


def delivery_limit(queue: str) -> int | None:
    """Deliveries RabbitMQ allows a message of `queue` before dead-lettering it."""
    if queue in TASK_QUEUES:
        return TASK_DELIVERY_LIMIT
    raw_queue = raw_queues.find(queue)
    return raw_queue.delivery_limit if raw_queue else None


def _from_broker(message: Message) -> NewDeadLetter:
    headers = dict(message.headers or {})
    deaths = headers.get("x-death") or [{}]
    first = deaths[0] if isinstance(deaths, list) and deaths else {}
    queue = str(first.get("queue") or message.delivery_info.get("routing_key") or "unknown")
    reason = str(first.get("reason") or "dead_lettered")
    # Past a delivery limit, the message was delivered limit + 1 times (x-death counts deaths, not deliveries).
    limit = delivery_limit(queue)
    attempts = limit + 1 if reason == "delivery_limit" and limit else int(first.get("count") or 1)
    task_name = headers.get("task")
    return NewDeadLetter(queue=queue, reason=reason, body=message.body, task_name=str(task_name) if task_name else None,
                         attempts=attempts, error=f"RabbitMQ dead-lettered it: {reason}",
                         headers={k: v for k, v in headers.items() if isinstance(v, str | int | float | bool)})


class DeadLetterQueueConsumer(bootsteps.ConsumerStep):
    """Consumes the broker's dead-letter queues and records each message, then acknowledges it."""

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.enabled = get_settings().broker_kind == "amqp"

    def include_if(self, parent: Any) -> bool:
        return bool(self.enabled)

    def get_consumers(self, channel: Any) -> list[Consumer]:
        # The raw queues' own (their domains registered them when the worker imported its task modules).
        queues = [q.dead_letter_queue for q in raw_queues.registered() if q.dead_letter_queue is not None]
        queues.append(dead_letter_queue())
        for queue in queues:
            queue(channel).declare()
        return [Consumer(channel, queues=queues, on_message=self.on_message, accept=None, prefetch_count=50)]

    def on_message(self, message: Message) -> None:
        settle_as_dead_letter(message, _from_broker(message))


app.steps["consumer"].add(DeadLetterQueueConsumer)
