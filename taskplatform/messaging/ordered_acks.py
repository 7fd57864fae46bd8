"""Acknowledging messages that finish out of order with as few `basic.ack` frames as the order allows."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

logger = logging.getLogger("taskplatform.messaging")


class OrderedAcks:
    """The deliveries of a consumer's own channels still being worked on, so that finished ones can be acknowledged
    with one `basic_ack(multiple=True)`: that acknowledges every delivery on the channel up to its tag, which is
    only right for the tags below the lowest one still in hand (every delivery below it is then settled: finished
    here, or acknowledged or rejected on its own). A finished message above it is acknowledged on its own at once:
    it never waits for a slower one, so one slow message does not hold the others' acknowledgements (nor, through
    the prefetch window, the consumer).

    Every delivery on the channel must go through `started` or be settled at once on its own: the channel must be
    the consumer's own (Celery's `ConsumerStep` opens one per step)."""

    def __init__(self) -> None:
        # id(channel) -> (channel, tags in hand): the channel is held so that its id is not reused while listed.
        self.in_hand: dict[int, tuple[Any, set[int]]] = {}

    def started(self, message: Any) -> None:
        self.in_hand.setdefault(id(message.channel), (message.channel, set()))[1].add(message.delivery_tag)

    def finished(self, message: Any) -> None:
        """The message is no longer in hand (done, failed or given up): call before `ack` or settling it."""
        entry = self.in_hand.get(id(message.channel))
        if entry is not None:
            entry[1].discard(message.delivery_tag)
            if not entry[1]:
                del self.in_hand[id(message.channel)]

    def ack(self, messages: Sequence[Any]) -> None:
        """Acknowledge finished messages (each already passed to `finished`)."""
        by_channel: dict[int, list[Any]] = {}
        for message in messages:
            by_channel.setdefault(id(message.channel), []).append(message)
        for key, finished in by_channel.items():
            entry = self.in_hand.get(key)
            lowest = min(entry[1]) if entry else None
            below = [m for m in finished if lowest is None or m.delivery_tag < lowest]
            settles = [(m, False) for m in finished if lowest is not None and m.delivery_tag > lowest]
            if below:
                settles.append((max(below, key=lambda m: m.delivery_tag), True))
            for message, multiple in settles:
                try:
                    message.ack(multiple=multiple)
                except Exception:
                    # The channel died: the broker redelivers what it had not been told, and the work is idempotent.
                    logger.exception("acknowledging %s finished messages failed; they will be redelivered",
                                     "several" if multiple else "one of the")
