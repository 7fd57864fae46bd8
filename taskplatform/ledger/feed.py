"""The transition feed: one poller per process reads new `task_events` rows and fans them out to every stream.

A stream never queries the database while it waits: the poller runs one query per tick (every `interval_s`)
for all of them, however many are open, and puts each new transition in the queue of every subscription it
matches (a task's stream: its task id; a list stream: its state, name and queue). The poller starts with the
first subscription and stops when the last one goes (or at the application's shutdown, `close`).

A subscription's queue is bounded: a stream that does not keep up is dropped from the fan-out and, once it has
read what it was given, told to end (`None`), so the client reconnects with its last event id and reads the
rest from the database, while every other stream goes on unaffected.

Handover (no gap, no duplicate): subscribe first, then read the history from the database, then follow the
subscription, skipping what the history already gave (by event id). A row committed before `subscribe`
returns is in the history; any later one is fanned out to the subscription (see FeedCursor for rows that
commit out of id order).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from taskplatform.ledger.feed_cursor import FeedCursor
from taskplatform.ledger.transitions import Transition, newest_ids, read_after, read_ids

logger = logging.getLogger("taskplatform.ledger.feed")

#: What `Subscription.next` returns when `timeout` passed without a transition (time for a heartbeat).
IDLE = "idle"


@dataclass(frozen=True)
class Interest:
    """What a subscription wants: one task's transitions, or any task's matching the given filters."""

    task_id: str | None = None
    state: str | None = None
    name: str | None = None
    queue: str | None = None

    def matches(self, transition: Transition) -> bool:
        return all(wanted is None or wanted == got for wanted, got in (
            (self.task_id, transition.task_id), (self.state, transition.state), (self.name, transition.name),
            (self.queue, transition.queue)))


@dataclass(eq=False)
class Subscription:
    interest: Interest
    limit: int
    #: Transitions in id order; `None` last when the stream must end (it fell behind, or the feed closed).
    queue: asyncio.Queue[Transition | None] = field(default_factory=asyncio.Queue)
    ended: bool = False

    def offer(self, transition: Transition) -> bool:
        """Queue a transition; False (and the end marker queued) when the queue is full."""
        if self.ended:
            return False
        if self.queue.qsize() >= self.limit:
            self.end()
            return False
        self.queue.put_nowait(transition)
        return True

    def end(self) -> None:
        if not self.ended:
            self.ended = True
            self.queue.put_nowait(None)  # the queue itself is unbounded: `limit` is enforced by `offer`

    async def next(self, timeout: float) -> Transition | None | str:
        """The next transition, `None` at the end, or IDLE after `timeout` seconds without either."""
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return IDLE


class TransitionFeed:
    def __init__(self, sessions: Callable[[], Session], *, interval_s: float = 0.25, queue_limit: int = 1000,
                 batch: int = 500, grace_s: float = 10.0) -> None:
        self._sessions = sessions
        self.interval_s = interval_s
        self.queue_limit = queue_limit
        self.batch = batch
        self.grace_s = grace_s
        self._by_task: dict[str, set[Subscription]] = {}
        self._listings: set[Subscription] = set()
        self._cursor: FeedCursor | None = None
        self._poller: asyncio.Task[None] | None = None
        self._starting = asyncio.Lock()

    @property
    def subscribers(self) -> int:
        return len(self._listings) + sum(len(subs) for subs in self._by_task.values())

    @property
    def running(self) -> bool:
        return self._poller is not None and not self._poller.done()

    async def subscribe(self, interest: Interest) -> Subscription:
        """A subscription that gets every matching transition committed from now on (see the module's handover)."""
        async with self._starting:
            if self._cursor is None:
                newest = await asyncio.to_thread(self._newest)
                self._cursor = FeedCursor.starting(newest, now=time.monotonic(), grace_s=self.grace_s)
            subscription = Subscription(interest, self.queue_limit)
            if interest.task_id is not None:
                self._by_task.setdefault(interest.task_id, set()).add(subscription)
            else:
                self._listings.add(subscription)
            if not self.running:
                self._poller = asyncio.create_task(self._poll(), name="transition-feed")
            return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Drop a subscription; the poller stops with the last one."""
        task_id = subscription.interest.task_id
        if task_id is None:
            self._listings.discard(subscription)
        elif task_id in self._by_task:
            self._by_task[task_id].discard(subscription)
            if not self._by_task[task_id]:
                del self._by_task[task_id]
        if not self.subscribers:
            self._stop()

    async def close(self) -> None:
        """End every subscription and stop the poller (the application is shutting down)."""
        for subscription in [*self._listings, *(s for subs in self._by_task.values() for s in subs)]:
            subscription.end()
        self._listings.clear()
        self._by_task.clear()
        poller = self._poller
        self._stop()
        if poller is not None:
            await asyncio.gather(poller, return_exceptions=True)

    def _stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
        self._poller = None
        self._cursor = None  # a later first subscriber starts from the newest id again

    def _newest(self) -> list[tuple[int, str]]:
        with self._sessions() as session:
            return newest_ids(session=session, window=256)

    def _read(self, cursor: FeedCursor) -> list[Transition]:
        """Gaps still open, then every row after the cursor, one page at a time (a page only when it is full)."""
        with self._sessions() as session:
            found = read_ids(session=session, ids=cursor.pending(time.monotonic()))
            after = cursor.after()
            while True:
                page = read_after(session=session, after=after, limit=self.batch)
                found += page
                if len(page) < self.batch:
                    return found
                after = page[-1].id

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            cursor = self._cursor
            if cursor is None:
                return
            try:
                rows = await asyncio.to_thread(self._read, cursor)
            except Exception:  # a database hiccup: the streams wait, the next tick tries again
                logger.exception("transition feed: reading task_events failed")
                continue
            if cursor is self._cursor:  # not stopped (and restarted) while reading
                self.publish(cursor.accept(rows, time.monotonic()))

    def publish(self, transitions: list[Transition]) -> None:
        """Hand each transition to the subscriptions it matches; a full queue ends its subscription only."""
        for transition in transitions:
            targets = [*self._by_task.get(transition.task_id, ()), *self._listings]
            for subscription in targets:
                if subscription.interest.matches(transition) and not subscription.offer(transition):
                    logger.warning("transition feed: a stream fell %d transitions behind; it is told to reconnect",
                                   self.queue_limit)
                    self.unsubscribe(subscription)
