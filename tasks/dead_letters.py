"""Moves messages RabbitMQ dead-lettered (past a delivery limit) into the dead-letter store."""

from __future__ import annotations

from typing import Any

from celery import bootsteps
from kombu import Consumer
from kombu.message import Message

from taskplatform.celery_app import app
from taskplatform.dead_letters import NewDeadLetter, settle_as_dead_letter
from taskplatform.queues import TASK_DELIVERY_LIMIT, TASK_QUEUES, dead_letter_queue
from taskplatform.raw_queues import RAW_SESSIONS, RAW_SESSIONS_DLQ
from taskplatform.settings import get_settings

DELIVERY_LIMITS: dict[str, int] = {RAW_SESSIONS.name: int(RAW_SESSIONS.queue_arguments["x-delivery-limit"]),
                                   **dict.fromkeys(TASK_QUEUES, TASK_DELIVERY_LIMIT)}


def _from_broker(message: Message) -> NewDeadLetter:
    headers = dict(message.headers or {})
    deaths = headers.get("x-death") or [{}]
    first = deaths[0] if isinstance(deaths, list) and deaths else {}
    queue = str(first.get("queue") or message.delivery_info.get("routing_key") or "unknown")
    reason = str(first.get("reason") or "dead_lettered")
    # Past a delivery limit, the message was delivered limit + 1 times (x-death counts deaths, not deliveries).
    limit = DELIVERY_LIMITS.get(queue)
    attempts = limit + 1 if reason == "delivery_limit" and limit else int(first.get("count") or 1)
    task_name = headers.get("task")
    return NewDeadLetter(queue=queue, reason=reason, body=message.body, task_name=str(task_name) if task_name else None,
                         attempts=attempts, error=f"RabbitMQ dead-lettered it: {reason}",
                         headers={k: v for k, v in headers.items() if isinstance(v, str | int | float | bool)})


class DeadLetterQueueConsumer(bootsteps.ConsumerStep):  # type: ignore[misc]
    """Consumes the broker's dead-letter queues and records each message, then acknowledges it."""

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.enabled = get_settings().broker_kind == "amqp"

    def include_if(self, parent: Any) -> bool:
        return bool(self.enabled)

    def get_consumers(self, channel: Any) -> list[Consumer]:
        queues = [RAW_SESSIONS_DLQ, dead_letter_queue()]
        for queue in queues:
            queue(channel).declare()
        return [Consumer(channel, queues=queues, on_message=self.on_message, accept=None, prefetch_count=50)]

    def on_message(self, message: Message) -> None:
        settle_as_dead_letter(message, _from_broker(message))


app.steps["consumer"].add(DeadLetterQueueConsumer)
