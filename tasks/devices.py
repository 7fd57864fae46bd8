"""Device tasks: health checks from `POST /devices/health`, and the `rasp_data` consumer."""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import bootsteps
from kombu import Consumer
from kombu.message import Message

from taskplatform.celery_app import app
from taskplatform.db import get_engine, utcnow
from taskplatform.dead_letters import NewDeadLetter, body_text, record_dead_letters
from taskplatform.devices import (
    DeviceReading,
    parse_reading,
    record_device_messages,
    upsert_device_statuses,
)
from taskplatform.errors import PermanentError
from taskplatform.raw_messages import InvalidMessage, consumes_raw_queue
from taskplatform.raw_queues import RASP_DATA
from taskplatform.settings import get_settings

logger = logging.getLogger("taskplatform.devices")


@app.task(name="devices.upsert")
def upsert(reading: dict[str, Any]) -> dict[str, Any]:
    """Apply one health check (idempotent: an upsert keyed by `raspberry_id`)."""
    try:
        parsed = parse_reading(reading)
    except InvalidMessage as exc:
        raise PermanentError(str(exc)) from exc
    apply_readings([(parsed, reading)])
    return {"raspberry_id": parsed.id, "device_url": f"/devices/{parsed.id}"}


def apply_readings(readings: list[tuple[DeviceReading, Any]], letters: list[NewDeadLetter] | None = None) -> None:
    """Upsert the readings, keep their raw bodies, and store dead letters: one transaction."""
    now = utcnow()
    settings = get_settings()
    with get_engine().begin() as connection:
        upsert_device_statuses(connection=connection, readings=[(r, now) for r, _ in readings])
        record_device_messages(connection=connection, keep=settings.device_messages_kept,
                               messages=[(r.id, body_text(b) if isinstance(b, bytes | str) else r.model_dump_json(),
                                          now) for r, b in readings])
        record_dead_letters(connection=connection, letters=letters or [])


class RaspDataConsumer(bootsteps.ConsumerStep):  # type: ignore[misc]
    """Consumes the plain JSON the devices publish to `rasp_data` (pika, no content type).

    Messages are applied in batches: one multi-row upsert and commit, then every message of
    the batch is acknowledged. A body that is not a valid health check goes to the
    dead-letter store in the same transaction. If the database is down the batch stays
    unacknowledged and is retried with backoff; if the worker dies it is redelivered.
    """

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.settings = get_settings()
        self.enabled = consumes_raw_queue(parent, "devices")
        self.pending: list[Message] = []
        self.retry_at = 0.0
        self.backoff = 0.5
        self.timer_entry: Any = None

    def include_if(self, parent: Any) -> bool:
        return bool(self.enabled)

    def get_consumers(self, channel: Any) -> list[Consumer]:
        RASP_DATA(channel).declare()
        return [Consumer(channel, queues=[RASP_DATA], on_message=self.on_message, accept=None,
                         prefetch_count=self.settings.raw_prefetch)]

    def start(self, c: Any) -> None:
        super().start(c)
        self.timer_entry = c.timer.call_repeatedly(self.settings.raw_flush_interval, self.flush)

    def stop(self, c: Any) -> None:
        # Warm shutdown: apply the batch in hand; whatever cannot be applied is redelivered.
        self.flush(force=True)
        if self.timer_entry is not None:
            self.timer_entry.cancel()
        super().stop(c)

    def on_message(self, message: Message) -> None:
        self.pending.append(message)
        # Half the prefetch window: the other half keeps arriving while this batch commits.
        if len(self.pending) >= max(1, self.settings.raw_prefetch // 2):
            self.flush()

    def flush(self, force: bool = False) -> None:
        if not self.pending or (not force and time.monotonic() < self.retry_at):
            return
        batch, self.pending = self.pending, []
        readings, letters = [], []
        for message in batch:
            try:
                readings.append((parse_reading(message.body), message.body))
            except InvalidMessage as exc:
                letters.append(NewDeadLetter(queue=RASP_DATA.name, reason=exc.reason, error=str(exc),
                                             body=message.body, headers=dict(message.headers or {}) or None))
        try:
            apply_readings(readings, letters)
        except Exception:
            self.pending = batch + self.pending
            self.retry_at = time.monotonic() + self.backoff
            logger.exception("device batch of %d not applied; retrying in %.1fs", len(batch), self.backoff)
            self.backoff = min(self.backoff * 2, 30.0)
            return
        self.backoff = 0.5
        try:
            for message in batch:
                message.ack()
        except Exception:
            # The channel died after the commit: the broker redelivers, and the upsert is idempotent.
            logger.exception("acknowledging a device batch failed; it will be redelivered")
        if letters:
            logger.warning("%d invalid device messages stored as dead letters", len(letters))


app.steps["consumer"].add(RaspDataConsumer)
