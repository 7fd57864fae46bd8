"""Group commit for small requests: callers wait together and one blocking call serves them all.

A request joins the pending group and waits; the group is flushed when `max_size` are pending, or `max_wait_s`
after its first member arrived, whichever comes first. The flush runs `work` (blocking: a commit, a publish) off
the event loop, once for the whole group, and hands each caller its own result; if `work` raises, every caller
of that group gets the exception. One coalescer per process and event loop; nothing here knows what is batched.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from fastapi.concurrency import run_in_threadpool

T = TypeVar("T")
R = TypeVar("R")


class Coalescer(Generic[T, R]):
    """`await submit(item)` returns `work([...items of its group...])[its index]`."""

    def __init__(self, work: Callable[[list[T]], Sequence[R]], *, max_size: int, max_wait_s: float) -> None:
        if max_size < 1 or max_wait_s <= 0:
            raise ValueError("a coalescer needs max_size >= 1 and max_wait_s > 0")
        self.work = work
        self.max_size = max_size
        self.max_wait_s = max_wait_s
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._timer: asyncio.TimerHandle | None = None
        # Flushes in flight: kept so they are not garbage-collected while they run.
        self._flushing: set[asyncio.Task[None]] = set()

    async def submit(self, item: T) -> R:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._pending.append((item, future))
        if len(self._pending) >= self.max_size:
            self._flush()
        elif self._timer is None:
            self._timer = loop.call_later(self.max_wait_s, self._flush)
        # Shielded: a caller that goes away (a client disconnect) does not cancel the others' flush.
        return await asyncio.shield(future)

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        group, self._pending = self._pending, []
        if group:
            task = asyncio.get_running_loop().create_task(self._run(group))
            self._flushing.add(task)
            task.add_done_callback(self._flushing.discard)

    async def _run(self, group: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results = await run_in_threadpool(self.work, [item for item, _ in group])
            if len(results) != len(group):
                raise RuntimeError(f"coalesced work returned {len(results)} results for {len(group)} items")
        except BaseException as exc:  # every waiting caller hears of it, then it propagates no further
            for _, future in group:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (_, future), result in zip(group, results, strict=True):
            if not future.done():
                future.set_result(result)
