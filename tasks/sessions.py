"""Session tasks: `POST /sessions`, and the `raw_sessions` consumer (uploads to the object store)."""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from concurrent.futures import Future
from contextlib import AsyncExitStack
from typing import Any

from celery import bootsteps
from kombu import Consumer
from kombu.message import Message

from storage.s3 import ensure_bucket, s3_client
from taskplatform.core.errors import PermanentError, is_transient
from taskplatform.core.object_store import put_bytes, s3_location
from taskplatform.core.settings import get_settings
from taskplatform.dead_letters.store import NewDeadLetter, settle_as_dead_letter
from taskplatform.messaging.celery_app import app
from taskplatform.messaging.raw_messages import InvalidMessage, consumes_raw_queue
from taskplatform.messaging.task_names import TaskName
from taskplatform.sessions.messages import SessionMessage, parse_session
from taskplatform.sessions.raw_queue import RAW_SESSIONS, RAW_SESSIONS_DLQ

logger = logging.getLogger("taskplatform.sessions.messages")


@app.task(name=TaskName.SESSIONS_PERSIST.value)
def persist(session: dict[str, Any]) -> dict[str, Any]:
    """Store one session at its deterministic key (a retry overwrites it with the same bytes)."""
    try:
        parsed = parse_session(session)
    except InvalidMessage as exc:
        raise PermanentError(str(exc)) from exc
    put_bytes(parsed.key, parsed.body, "application/json")
    return {"key": parsed.key, "bytes": len(parsed.body), "user_id": parsed.user_id,
            "session_uuid": parsed.session_uuid}


class RawSessionsConsumer(bootsteps.ConsumerStep):  # type: ignore[misc]
    """Consumes `raw_sessions` (quorum, delivery limit 5) and stores each session in S3.

    Uploads run on an asyncio loop in a thread, up to `SESSIONS_IN_FLIGHT` at once; a
    message is acknowledged (on the worker's own loop: channels are not thread-safe) only
    after its upload succeeded. While the store is down an upload is retried with backoff
    for `SESSIONS_RETRY_WINDOW` seconds, then the message goes back to the queue; past the
    delivery limit RabbitMQ dead-letters it (policy) and it lands in the dead-letter store.
    """

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.settings = get_settings()
        self.enabled = consumes_raw_queue(parent, "sessions")
        self.done: queue.SimpleQueue[tuple[Message, Future[None]]] = queue.SimpleQueue()
        self.in_flight = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        self.client: Any = None
        self.stack: AsyncExitStack | None = None
        self.timer_entry: Any = None

    def include_if(self, parent: Any) -> bool:
        return bool(self.enabled)

    def get_consumers(self, channel: Any) -> list[Consumer]:
        RAW_SESSIONS.queue(channel).declare()
        RAW_SESSIONS_DLQ(channel).declare()
        return [Consumer(channel, queues=[RAW_SESSIONS.queue], on_message=self.on_message, accept=None,
                         prefetch_count=self.settings.sessions_in_flight)]

    def start(self, c: Any) -> None:
        if self.loop is None:
            self.loop = asyncio.new_event_loop()
            threading.Thread(target=self.loop.run_forever, name="session-uploads", daemon=True).start()
            asyncio.run_coroutine_threadsafe(self._open_client(), self.loop).result(timeout=60)
        super().start(c)
        self.timer_entry = c.timer.call_repeatedly(0.02, self.drain)

    def stop(self, c: Any) -> None:
        # Warm shutdown: let the uploads in flight finish and acknowledge them.
        deadline = time.monotonic() + 30
        while self.in_flight and time.monotonic() < deadline:
            self.drain(block=True)
        if self.timer_entry is not None:
            self.timer_entry.cancel()
        super().stop(c)

    def shutdown(self, c: Any) -> None:
        super().shutdown(c)
        if self.loop is not None:
            asyncio.run_coroutine_threadsafe(self._close_client(), self.loop).result(timeout=10)
            self.loop.call_soon_threadsafe(self.loop.stop)

    async def _open_client(self) -> None:
        self.stack = AsyncExitStack()
        location = s3_location(self.settings)
        self.client = await self.stack.enter_async_context(
            s3_client(location, timeout_s=10, connections=self.settings.sessions_in_flight))
        try:
            await ensure_bucket(self.client, location.bucket)
        except Exception:
            logger.exception("could not check bucket %s; uploads will retry", location.bucket)

    async def _close_client(self) -> None:
        if self.stack is not None:
            await self.stack.aclose()

    async def _upload(self, parsed: SessionMessage) -> None:
        deadline = time.monotonic() + self.settings.sessions_retry_window
        delay = 0.5
        bucket = self.settings.s3_bucket
        while True:
            try:
                await self.client.put_object(Bucket=bucket, Key=parsed.key, Body=parsed.body,
                                             ContentType="application/json")
                return
            except Exception as exc:
                if not is_transient(exc) or time.monotonic() + delay > deadline:
                    raise
                logger.warning("upload of %s failed (%s); retrying in %.1fs", parsed.key, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    def on_message(self, message: Message) -> None:
        try:
            parsed = parse_session(message.body)
        except InvalidMessage as exc:
            self._dead_letter(message, exc)
            return
        assert self.loop is not None
        future = asyncio.run_coroutine_threadsafe(self._upload(parsed), self.loop)
        self.in_flight += 1
        future.add_done_callback(lambda f: self.done.put((message, f)))

    def drain(self, block: bool = False) -> None:
        while True:
            try:
                message, future = self.done.get(timeout=0.1) if block else self.done.get_nowait()
            except queue.Empty:
                return
            self.in_flight -= 1
            error = future.exception()
            try:
                if error is None:
                    message.ack()
                else:
                    logger.error("session upload failed, back to the queue: %s", error)
                    message.requeue()
            except Exception:
                logger.exception("could not settle a session message; the broker will redeliver it")
            if block:
                return

    def _dead_letter(self, message: Message, exc: InvalidMessage) -> None:
        settle_as_dead_letter(message, NewDeadLetter(
            queue=RAW_SESSIONS.name, reason=exc.reason, error=str(exc), body=message.body,
            attempts=int((message.headers or {}).get("x-delivery-count", 0)) + 1))


app.steps["consumer"].add(RawSessionsConsumer)
