"""Device tasks: health checks from `POST /devices/health`, and the `rasp_data` consumer."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kombu.message import Message
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from taskplatform.core.db import session_scope, utcnow
from taskplatform.core.errors import describe, permanent_on
from taskplatform.core.settings import get_settings
from taskplatform.dead_letters.store import NewDeadLetter, body_text, record_dead_letters
from taskplatform.devices.raw_queue import RASP_DATA
from taskplatform.devices.store import (
    DeviceReading,
    parse_reading,
    record_device_messages,
    upsert_device_statuses,
)
from taskplatform.messaging.batches import apply_bisecting
from taskplatform.messaging.celery_app import app
from taskplatform.messaging.raw_consumer import RawQueueConsumer
from taskplatform.messaging.raw_messages import InvalidMessage
from taskplatform.messaging.task_names import TaskName

logger = logging.getLogger("taskplatform.devices")


@app.task(name=TaskName.DEVICES_UPSERT.value, ledger_started=False)
def upsert(reading: dict[str, Any] | None = None, readings: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Apply one health check, or an array of them in one transaction (idempotent: upserts keyed by
    `raspberry_id`). `reading` is the single form, kept for messages already queued and replayed dead letters.

    The API validated every item; one that is invalid anyway (a limit lowered since) must not cost the others:
    the valid ones are applied, then the task fails permanently naming the invalid ones (its dead letter holds
    the whole array; replaying it re-applies the valid ones, which is idempotent). A database failure fails
    the whole transaction and the task retries, as for one check."""
    if readings is None:
        if reading is None:
            raise TypeError("upsert needs `reading` or `readings`")
        with permanent_on(InvalidMessage):
            parsed = parse_reading(reading)
        apply_readings([(parsed, reading)])
        return {"raspberry_id": parsed.id}
    valid: list[tuple[DeviceReading, Any]] = []
    invalid: list[str] = []
    for index, item in enumerate(readings):
        try:
            valid.append((parse_reading(item), item))
        except InvalidMessage as exc:
            invalid.append(f"item {index}: {exc}")
    if valid:
        apply_readings(valid)
    if invalid:
        with permanent_on(InvalidMessage):
            raise InvalidMessage("invalid_message", f"{len(invalid)} of {len(readings)} health checks invalid "
                                                    f"({len(valid)} applied): " + "; ".join(invalid[:5]))
    return {"readings": len(valid), "raspberry_ids": list(dict.fromkeys(r.id for r, _ in valid))}


def apply_readings(readings: list[tuple[DeviceReading, Any]], letters: list[NewDeadLetter] | None = None) -> None:
    """Upsert the readings, keep their raw bodies, and store dead letters: one transaction."""
    with session_scope() as session:
        store_readings(session=session, readings=readings, letters=letters)


def store_readings(*, session: Session, readings: list[tuple[DeviceReading, Any]],
                   letters: list[NewDeadLetter] | None = None) -> None:
    """`apply_readings` in the caller's transaction."""
    now = utcnow()
    if readings:
        upsert_device_statuses(session=session, readings=[(r, now) for r, _ in readings])
        record_device_messages(session=session, keep=get_settings().device_messages_kept,
                               messages=[(r.id, body_text(b) if isinstance(b, bytes | str) else r.model_dump_json(),
                                          now) for r, b in readings])
    record_dead_letters(session=session, letters=letters or [])


@dataclass(frozen=True)
class Received:
    """One message of a batch: its reading, or the dead letter it becomes when it is not valid."""

    message: Message
    reading: DeviceReading | None = None
    letter: NewDeadLetter | None = None


def _received(message: Message) -> Received:
    try:
        return Received(message, reading=parse_reading(message.body))
    except InvalidMessage as exc:
        return Received(message, letter=NewDeadLetter(queue=RASP_DATA.name, reason=exc.reason, error=str(exc),
                                                      body=message.body, headers=dict(message.headers or {}) or None))


def _apply(part: Sequence[Received]) -> None:
    apply_readings([(r.reading, r.message.body) for r in part if r.reading is not None],
                   [r.letter for r in part if r.letter is not None])


def _refused(item: Received, exc: BaseException) -> NewDeadLetter:
    reason = "rejected_by_database" if isinstance(exc, SQLAlchemyError) else "apply_failed"
    return NewDeadLetter(queue=RASP_DATA.name, reason=reason, error=describe(exc), body=item.message.body,
                         headers=dict(item.message.headers or {}) or None)


class RaspDataConsumer(RawQueueConsumer):
    """Consumes the plain JSON the devices publish to `rasp_data` (pika, no content type).

    Messages are applied in batches: one multi-row upsert and commit, then every message of
    the batch is acknowledged. A body that is not a valid health check goes to the
    dead-letter store in the same transaction. If the database is down (a transient error,
    `taskplatform.core.errors.is_transient`) the batch stays unacknowledged and is retried with
    backoff; if the worker dies it is redelivered. If the database refuses the batch for
    any other reason (a value it cannot store), the batch is split until the messages it
    refuses are found (`apply_bisecting`): those become dead letters with the database's
    reason, the others are applied, and all are acknowledged, so one bad message neither
    holds back the others nor comes back forever (`rasp_data` has no delivery limit).
    """

    raw_queue = RASP_DATA
    task_queue = "devices"

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.pending: list[Message] = []
        self.retry_at = 0.0
        self.backoff = 0.5

    def prefetch_count(self) -> int:
        return self.settings.raw_prefetch

    def timer_interval(self) -> float:
        return self.settings.raw_flush_interval

    def on_timer(self) -> None:
        self.flush()

    def finish(self) -> None:
        # Warm shutdown: apply the batch in hand; whatever cannot be applied is redelivered.
        self.flush(force=True)

    def on_message(self, message: Message) -> None:
        self.pending.append(message)
        # Half the prefetch window: the other half keeps arriving while this batch commits.
        if len(self.pending) >= max(1, self.settings.raw_prefetch // 2):
            self.flush()

    def flush(self, force: bool = False) -> None:
        if not self.pending or (not force and time.monotonic() < self.retry_at):
            return
        batch, self.pending = self.pending, []
        outcome = apply_bisecting([_received(m) for m in batch], _apply)
        if outcome.refused:
            logger.warning("device batch of %d refused by the database; %d of its messages go to dead letters "
                           "after %d attempts: %s", len(batch), len(outcome.refused), outcome.attempts,
                           describe(outcome.refused[0][1]))
            refused = [item for item, _ in outcome.refused]
            if self._dead_letter([_refused(*r) for r in outcome.refused]):
                outcome.applied.extend(refused)  # settled: acknowledged below with the applied ones
            else:
                outcome.held.extend(refused)
        self._ack([item.message for item in outcome.applied], everything_in_hand=not outcome.held)
        if outcome.held:
            self.pending = [item.message for item in outcome.held] + self.pending
            self.retry_at = time.monotonic() + self.backoff
            logger.error("device batch: %d of %d messages not applied; retrying in %.1fs (%s)", len(outcome.held),
                         len(batch), self.backoff, describe(outcome.error) if outcome.error else "dead-letter store")
            self.backoff = min(self.backoff * 2, 30.0)
            return
        self.backoff = 0.5
        invalid = sum(1 for item in outcome.applied if item.letter is not None)  # stored with the readings
        if invalid:
            logger.warning("%d invalid device messages stored as dead letters", invalid)

    @staticmethod
    def _dead_letter(letters: list[NewDeadLetter]) -> bool:
        """Store the refused messages as dead letters (one transaction); False if the store is unavailable."""
        try:
            with session_scope() as session:
                record_dead_letters(session=session, letters=letters)
        except Exception:
            logger.exception("could not store %d refused device messages as dead letters", len(letters))
            return False
        return True

    @staticmethod
    def _ack(messages: list[Message], *, everything_in_hand: bool) -> None:
        """Acknowledge the settled messages (applied, or stored as dead letters: committed either way).

        When they are every message in hand, one `basic_ack(multiple=True)` per channel settles them: it
        acknowledges every delivery on the channel up to that tag, and this consumer's channel is its own
        (`ConsumerStep` opens one per step) and every delivery on it not yet acknowledged is in this batch:
        `on_message` only appends, and a flush takes all of `pending`. With messages held back (a transient
        failure) a delivery below the highest tag is not settled, so each is acknowledged on its own.
        """
        if everything_in_hand:
            last: dict[int, Message] = {}
            for message in messages:  # delivery tags count per channel: a reconnection starts a new one
                known = last.get(id(message.channel))
                if known is None or message.delivery_tag > known.delivery_tag:
                    last[id(message.channel)] = message
            settles = [(message, True) for message in last.values()]
        else:
            settles = [(message, False) for message in messages]
        for message, multiple in settles:
            try:
                message.ack(multiple=multiple)
            except Exception:
                # The channel died after the commit: the broker redelivers, and the upsert is idempotent.
                logger.exception("acknowledging a device batch failed; it will be redelivered")


app.steps["consumer"].add(RaspDataConsumer)
