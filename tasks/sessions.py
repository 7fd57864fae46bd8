"""Session tasks: `POST /sessions`, and the `raw_sessions` consumer (uploads to the object store)."""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from functools import partial
from typing import Any

from kombu.message import Message

from storage.s3 import ensure_bucket, s3_client
from taskplatform.core.errors import is_transient, permanent_on
from taskplatform.core.object_store import put_bytes, s3_location
from taskplatform.dead_letters.store import NewDeadLetter, settle_as_dead_letter
from taskplatform.messaging.celery_app import app
from taskplatform.messaging.ordered_acks import OrderedAcks
from taskplatform.messaging.raw_consumer import RawQueueConsumer
from taskplatform.messaging.raw_messages import InvalidMessage
from taskplatform.messaging.task_names import TaskName
from taskplatform.sessions.messages import SessionMessage, parse_session
from taskplatform.sessions.raw_queue import RAW_SESSIONS

logger = logging.getLogger("taskplatform.sessions.messages")


def _stored(parsed: SessionMessage) -> dict[str, Any]:
    put_bytes(parsed.key, parsed.body, "application/json")
    return {"key": parsed.key, "bytes": len(parsed.body), "user_id": parsed.user_id,
            "session_uuid": parsed.session_uuid}


#: Uploads of one array at once: the object store answers many PUTs in parallel (bench/ingestion.py).
ARRAY_UPLOADS_IN_FLIGHT = 8


@app.task(name=TaskName.SESSIONS_PERSIST.value, ledger_started=False)
def persist(session: dict[str, Any] | None = None, sessions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Store one session at its deterministic key (a retry overwrites it with the same bytes); or an array of them,
    each at its own key. `session` is the single form, kept for messages already queued and replayed dead letters.

    In an array, a session that is invalid anyway (a limit lowered since the API took it) does not cost the others:
    the valid ones are stored, then the task fails permanently naming the invalid ones. A store failure fails the
    task, which retries the whole array: the sessions already stored are overwritten with the same bytes."""
    if sessions is None:
        if session is None:
            raise TypeError("persist needs `session` or `sessions`")
        with permanent_on(InvalidMessage):
            parsed = parse_session(session)
        return _stored(parsed)
    valid: list[SessionMessage] = []
    invalid: list[str] = []
    for index, item in enumerate(sessions):
        try:
            valid.append(parse_session(item))
        except InvalidMessage as exc:
            invalid.append(f"item {index}: {exc}")
    with ThreadPoolExecutor(max_workers=ARRAY_UPLOADS_IN_FLIGHT) as uploads:
        stored = list(uploads.map(_stored, valid))  # the first failure is raised here, after the others finished
    if invalid:
        with permanent_on(InvalidMessage):
            raise InvalidMessage("invalid_message", f"{len(invalid)} of {len(sessions)} sessions invalid "
                                                    f"({len(valid)} stored): " + "; ".join(invalid[:5]))
    return {"sessions": stored}


class RawSessionsConsumer(RawQueueConsumer):
    """Consumes `raw_sessions` (quorum, delivery limit 5) and stores each session in S3.

    Uploads run on an asyncio loop in a thread, up to `SESSIONS_IN_FLIGHT` at once (twice as
    many messages in hand, so the next upload starts as soon as one ends); a message is
    acknowledged (on the worker's own loop: channels are not thread-safe) only after its
    upload succeeded. While the store is down an upload is retried with backoff
    for `SESSIONS_RETRY_WINDOW` seconds, then the message goes back to the queue; past the
    delivery limit RabbitMQ dead-letters it (policy) and it lands in the dead-letter store.
    """

    raw_queue = RAW_SESSIONS
    task_queue = "sessions"

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.done: queue.SimpleQueue[tuple[Message, BaseException | None]] = queue.SimpleQueue()
        #: Parsed messages for the upload loop, and whether it has been woken for them (see `on_message`).
        self.incoming: deque[tuple[Message, SessionMessage]] = deque()
        self.woken = False
        #: The upload tasks running: the loop itself holds only weak references to its tasks.
        self.uploading: set[asyncio.Task[None]] = set()
        self.in_flight = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        self.client: Any = None
        self.stack: AsyncExitStack | None = None
        self.uploads: asyncio.Semaphore | None = None
        self.acks = OrderedAcks()

    def prefetch_count(self) -> int:
        # Twice the uploads: the next ones are in hand when an upload ends, not one acknowledgement (up to a
        # timer tick) and one delivery later, so the store always has SESSIONS_IN_FLIGHT uploads to work on.
        return 2 * self.settings.sessions_in_flight

    def timer_interval(self) -> float:
        return 0.02

    def on_timer(self) -> None:
        self.drain()

    def start(self, c: Any) -> None:
        if self.loop is None:
            self.loop = asyncio.new_event_loop()
            threading.Thread(target=self.loop.run_forever, name="session-uploads", daemon=True).start()
            asyncio.run_coroutine_threadsafe(self._open_client(), self.loop).result(timeout=60)
        super().start(c)

    def finish(self) -> None:
        # Warm shutdown: let the uploads in flight finish and acknowledge them.
        deadline = time.monotonic() + 30
        while self.in_flight and time.monotonic() < deadline:
            self.drain(block=True)

    def shutdown(self, c: Any) -> None:
        super().shutdown(c)
        if self.loop is not None:
            asyncio.run_coroutine_threadsafe(self._close_client(), self.loop).result(timeout=10)
            self.loop.call_soon_threadsafe(self.loop.stop)

    async def _open_client(self) -> None:
        self.stack = AsyncExitStack()
        self.uploads = asyncio.Semaphore(self.settings.sessions_in_flight)
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
                assert self.uploads is not None
                async with self.uploads:
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
        self.acks.started(message)
        self.in_flight += 1
        self.incoming.append((message, parsed))
        # One wake-up of the upload loop for all the messages one read of the socket delivered, not a
        # `run_coroutine_threadsafe` (a self-pipe write and a chained future) each. `_start_uploads` clears
        # `woken` before it empties `incoming`, so a message appended after that clear wakes it again.
        if not self.woken:
            self.woken = True
            self.loop.call_soon_threadsafe(self._start_uploads)

    def _start_uploads(self) -> None:
        """On the upload loop: an upload task for every message handed over."""
        assert self.loop is not None
        self.woken = False
        while self.incoming:
            message, parsed = self.incoming.popleft()
            upload = self.loop.create_task(self._upload(parsed))
            self.uploading.add(upload)
            upload.add_done_callback(partial(self._uploaded, message))

    def _uploaded(self, message: Message, upload: asyncio.Task[None]) -> None:
        self.uploading.discard(upload)
        error = asyncio.CancelledError() if upload.cancelled() else upload.exception()
        self.done.put((message, error))

    def drain(self, block: bool = False) -> None:
        """Settle the finished uploads: the failed ones back to the queue, each on its own; the stored ones
        acknowledged together where their order allows (`OrderedAcks`), after their uploads succeeded."""
        stored: list[Message] = []
        while True:
            try:
                message, error = self.done.get(timeout=0.1) if block and not stored else self.done.get_nowait()
            except queue.Empty:
                break
            self.in_flight -= 1
            self.acks.finished(message)
            if error is None:
                stored.append(message)
                continue
            logger.error("session upload failed, back to the queue: %s", error)
            try:
                message.requeue()
            except Exception:
                logger.exception("could not requeue a session message; the broker will redeliver it")
        self.acks.ack(stored)

    def _dead_letter(self, message: Message, exc: InvalidMessage) -> None:
        settle_as_dead_letter(message, NewDeadLetter(
            queue=RAW_SESSIONS.name, reason=exc.reason, error=str(exc), body=message.body,
            attempts=int((message.headers or {}).get("x-delivery-count", 0)) + 1))


app.steps["consumer"].add(RawSessionsConsumer)
