"""What the workers say about themselves, for `/celery-status` and `/status`.

An inspection is one round of remote-control broadcasts on a broker connection of its own: `stats` finds the
workers (waiting the full timeout, since nobody knows how many there are), then each detail is asked of those
workers only, so its broadcast ends as soon as every one of them has answered. Celery's own `inspect()` would
borrow a connection from the pool the enqueue path publishes with, and a producer from it with no timeout:
a few concurrent status calls then held every pooled connection while waiting for one more, and every enqueue
hung behind them (issue 9, item 1). Here nothing comes from that pool.

`InspectionCache` serves one inspection to every caller for a few seconds, and callers arriving while one is
running wait for that one instead of starting their own (single flight), without holding a thread meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from anyio import to_thread
from celery import Celery
from celery.app.control import Control, flatten_reply
from kombu import Connection
from kombu.pidbox import Mailbox

logger = logging.getLogger("taskplatform.messaging.worker_status")

#: Asked of the workers `stats` found, each in a broadcast that ends when all of them have answered.
DETAILS = ("active_queues", "registered", "active", "reserved")


class _OwnConnectionMailbox(Mailbox):
    """Publishes commands on the connection it is bound to, never through the app's producer pool."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["producer_pool"] = None
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]  # kombu: no hints


class _OwnConnectionControl(Control):  # type: ignore[misc]  # Celery: no hints
    Mailbox = _OwnConnectionMailbox


@dataclass(frozen=True)
class Inspection:
    """One round's answers: each worker's queues, tasks, counts and pool, or why there are none."""

    workers: dict[str, dict[str, Any]]
    taken_at: datetime
    finished: float  # time.monotonic() when the round ended
    duration_s: float
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return bool(self.workers)

    def age_s(self) -> float:
        return max(0.0, time.monotonic() - self.finished)


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


def _ask(control: Control, connection: Connection, command: str, timeout: float,
         destination: list[str] | None = None) -> dict[str, Any]:
    replies = control.broadcast(command, connection=connection, reply=True, timeout=timeout,
                                destination=destination)
    return flatten_reply(replies or []) or {}


def worker_summary(stats: dict[str, Any], details: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Merge the replies of one round into one entry per worker (workers that answered `stats`)."""
    queues, registered = details.get("active_queues", {}), details.get("registered", {})
    active, reserved = details.get("active", {}), details.get("reserved", {})
    return {
        name: {
            "queues": sorted(q["name"] for q in queues.get(name) or []),
            "registered_tasks": sorted(registered.get(name) or []),
            "active": len(active.get(name) or []),
            "reserved": len(reserved.get(name) or []),
            "concurrency": (stats[name].get("pool") or {}).get("max-concurrency"),
            "pid": stats[name].get("pid"),
        }
        for name in sorted(stats)
    }


def inspect_workers(app: Celery, *, timeout: float, control: Control | None = None) -> Inspection:
    """One inspection round on a new broker connection (closed afterwards); never raises."""
    control = control or _OwnConnectionControl(app)
    taken_at, started = datetime.now(UTC), time.monotonic()
    workers: dict[str, dict[str, Any]] = {}
    reason: str | None = None
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=timeout)
            stats = _ask(control, connection, "stats", timeout)
            names = sorted(stats)
            details = {command: _ask(control, connection, command, timeout, names) for command in DETAILS} \
                if names else {}
        workers = worker_summary(stats, details)
        reason = None if workers else f"no worker answered within {timeout:g} s"
    except Exception as exc:
        logger.warning("worker inspection failed: %s", _reason(exc))
        reason = _reason(exc)
    finished = time.monotonic()
    return Inspection(workers, taken_at, finished, finished - started, reason)


class InspectionCache:
    """The latest inspection, refreshed by one round at a time when older than `max_age` seconds or empty.

    Meant for one event loop (an API process); `inspect` runs in a worker thread. A round that overruns
    `budget` seconds (a broker that went away mid-round: kombu retries the command's publish until it is back)
    is waited for no longer: callers get an answer saying so, at once after the first, and the round keeps its
    one thread and its own connection until it ends.
    """

    def __init__(self, inspect: Callable[[], Inspection], *, max_age: float, budget: float) -> None:
        self._inspect = inspect
        self._max_age = max_age
        self._budget = budget
        self._latest: Inspection | None = None
        self._running: asyncio.Task[Inspection] | None = None
        self._started = 0.0

    @classmethod
    def for_app(cls, app: Celery, *, max_age: float, timeout: float) -> InspectionCache:
        control = _OwnConnectionControl(app)
        return cls(lambda: inspect_workers(app, timeout=timeout, control=control), max_age=max_age,
                   budget=(1 + len(DETAILS)) * timeout + 2.0)

    async def get(self) -> Inspection:
        latest = self._latest
        # An inspection that found no worker is not reused: a worker that just started (or came back) shows at
        # the next call, and rounds stay one at a time all the same.
        if latest is not None and latest.ok and latest.age_s() <= self._max_age:
            return latest
        loop = asyncio.get_running_loop()
        if self._running is None or self._running.done() or self._running.get_loop() is not loop:
            self._started = time.monotonic()
            self._running = loop.create_task(self._refresh())
        try:
            # Once a round has overrun, later callers are answered at once rather than after another budget.
            left = max(0.0, self._started + self._budget - time.monotonic())
            return await asyncio.wait_for(asyncio.shield(self._running), left)
        except TimeoutError:
            now = time.monotonic()
            return Inspection({}, datetime.now(UTC), now, now - self._started,
                              f"worker inspection still running after {now - self._started:.1f} s")

    async def _refresh(self) -> Inspection:
        inspection = await to_thread.run_sync(self._inspect)
        self._latest = inspection
        return inspection
