"""Queues that producers outside Celery publish plain JSON to, and what the platform needs of each.

A domain declares its raw queue (the kombu queue exactly as its producers declare it, the tracked task that
applies one message, how a message becomes that task's arguments) and registers it here. The platform then
replays the queue's dead letters, counts its delivery limit and drains its dead-letter queue without knowing
any domain: a new raw queue is a new domain module, not an edit of the platform.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kombu import Queue


@dataclass(frozen=True)
class RawQueue:
    #: Declared exactly as the producers declare it: RabbitMQ answers 406 to any other arguments.
    queue: Queue
    #: The tracked task that applies one message (a replayed dead letter becomes this task).
    task_name: str
    #: A message body (JSON text, or an already decoded value) -> that task's keyword arguments; raises
    #: InvalidMessage when the body is not a valid message.
    task_kwargs: Callable[[Any], dict[str, Any]]
    #: Where RabbitMQ dead-letters a message past the queue's delivery limit (attached by a policy).
    dead_letter_queue: Queue | None = None
    #: name -> (pattern, definition) of the RabbitMQ policies the queue needs.
    policies: Mapping[str, tuple[str, dict[str, str]]] = field(default_factory=dict)
    #: The task's keyword arguments for one message and for an array of them (`task_kwargs` gives the first): a
    #: replayed dead letter of the task itself is checked against them before it is enqueued.
    item_argument: str | None = None
    items_argument: str | None = None

    @property
    def name(self) -> str:
        return str(self.queue.name)

    @property
    def delivery_limit(self) -> int | None:
        limit = (getattr(self.queue, "queue_arguments", None) or {}).get("x-delivery-limit")
        return int(limit) if limit is not None else None


_REGISTERED: dict[str, RawQueue] = {}


def register(raw_queue: RawQueue) -> RawQueue:
    """Make `raw_queue` known to the platform (at the domain module's import, as Celery's `@app.task` does)."""
    known = _REGISTERED.get(raw_queue.name)
    if known is not None and known.task_name != raw_queue.task_name:
        raise ValueError(f"raw queue {raw_queue.name!r} is already registered for {known.task_name!r}")
    _REGISTERED[raw_queue.name] = raw_queue
    return raw_queue


def registered() -> tuple[RawQueue, ...]:
    return tuple(_REGISTERED.values())


def find(name: str) -> RawQueue | None:
    return _REGISTERED.get(name)


def for_task(task_name: str) -> RawQueue | None:
    """The raw queue whose messages `task_name` applies, if any."""
    return next((raw for raw in _REGISTERED.values() if raw.task_name == task_name), None)
