"""The worker's consumer of one raw queue: what every domain's raw-queue consumer shares.

A raw queue (`messaging.raw_queues`) carries plain JSON from producers outside Celery. A worker consumes it with a
Celery consumer step, on RabbitMQ only and only when it serves the domain's task queue (or every queue); the
step declares the queue exactly as its producers do (and its dead-letter queue, if any), consumes it with a
bounded prefetch and may run a periodic callback on the worker's timer. A domain's subclass says which queue,
how many messages in hand, and what to do with each message: its domain logic only. Every message received, and
a window full of unacknowledged messages, counts as the consumer's progress for the liveness probe
(`liveness_step.py`).
"""

from __future__ import annotations

from typing import Any, ClassVar

from celery import bootsteps
from kombu import Consumer
from kombu.message import Message

from taskplatform.core.settings import Settings, get_settings
from taskplatform.messaging.liveness_step import RECORDER
from taskplatform.messaging.raw_messages import consumes_raw_queue
from taskplatform.messaging.raw_queues import RawQueue


class RawQueueConsumer(bootsteps.ConsumerStep):  # type: ignore[misc]
    """A consumer step for `raw_queue`, run by the workers that serve `task_queue` on RabbitMQ."""

    #: The raw queue consumed.
    raw_queue: ClassVar[RawQueue]
    #: The Celery task queue whose workers consume the raw queue.
    task_queue: ClassVar[str]

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.settings: Settings = get_settings()
        self.enabled = consumes_raw_queue(parent, self.task_queue)
        self.timer_entry: Any = None
        #: Messages handed to `on_message` and maybe not yet settled (pruned when the liveness tick asks).
        self.in_hand: list[Message] = []

    def include_if(self, parent: Any) -> bool:
        return bool(self.enabled)

    def prefetch_count(self) -> int:
        """How many unacknowledged messages the broker hands this consumer at once."""
        raise NotImplementedError

    def timer_interval(self) -> float | None:
        """Seconds between calls of `on_timer` on the worker's timer; None for no timer."""
        return None

    def on_timer(self) -> None:
        """Periodic work on the worker's own thread (where acknowledging is safe: channels are not thread-safe)."""

    def on_message(self, message: Message) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        """Warm shutdown: settle the messages in hand before the consumer stops."""

    def get_consumers(self, channel: Any) -> list[Consumer]:
        self.raw_queue.queue(channel).declare()
        if self.raw_queue.dead_letter_queue is not None:
            self.raw_queue.dead_letter_queue(channel).declare()
        return [Consumer(channel, queues=[self.raw_queue.queue], on_message=self._received, accept=None,
                         prefetch_count=self.prefetch_count())]

    def _received(self, message: Message) -> None:
        self.in_hand.append(message)
        RECORDER.received(self.raw_queue.name)
        self.on_message(message)

    def saturated(self) -> bool:
        """Whether the consumer holds as many unsettled messages as its prefetch: the broker then rightly sends
        nothing (a device batch held while the database is down), which is no sign of a stuck consumer."""
        self.in_hand = [m for m in self.in_hand if not m.acknowledged]
        return len(self.in_hand) >= self.prefetch_count()

    def start(self, c: Any) -> None:
        self.in_hand = []  # a new connection: whatever was in hand went back to the queue with the old one
        super().start(c)
        RECORDER.watch(self.raw_queue.name, [self.raw_queue.name], self.saturated)
        interval = self.timer_interval()
        if interval is not None:
            self.timer_entry = c.timer.call_repeatedly(interval, self.on_timer)

    def stop(self, c: Any) -> None:
        self.finish()
        if self.timer_entry is not None:
            self.timer_entry.cancel()
        super().stop(c)
