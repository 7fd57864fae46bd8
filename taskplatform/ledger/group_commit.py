"""Group commit: independent one-row writes from many threads of a process, written together.

The first caller that finds no write in progress leads: it writes what is waiting (its own row and any that
arrived since) in one call, then hands the lead to a caller that arrived meanwhile. No timer: a lone caller
writes at once, as if alone; under load, callers that arrive during a write share the next one, so the
statements, round trips and commits per row fall as the load rises. Every caller returns once its row is
committed, or raises the error of its batch.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class _Slot(Generic[T]):
    __slots__ = ("done", "error", "item", "lead")

    def __init__(self, item: T) -> None:
        self.item = item
        self.done = threading.Event()
        self.error: BaseException | None = None
        self.lead = False


class GroupCommit(Generic[T]):
    """`submit(item)` returns once `write([..., item, ...])` returned (or raises what it raised)."""

    def __init__(self, write: Callable[[list[T]], None], *, max_batch: int = 500) -> None:
        self.write, self.max_batch = write, max_batch
        self._reset()
        os.register_at_fork(after_in_child=self._reset)  # a child must not inherit a lock held by a thread

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._waiting: list[_Slot[T]] = []
        self._leading = False

    def submit(self, item: T) -> None:
        slot = _Slot(item)
        with self._lock:
            self._waiting.append(slot)
            follow = self._leading
            self._leading = True
        if follow:
            slot.done.wait()
            if not slot.lead:
                if slot.error is not None:
                    raise slot.error
                return
        self._lead()
        if slot.error is not None:
            raise slot.error

    def _lead(self) -> None:
        with self._lock:
            batch, self._waiting = self._waiting[:self.max_batch], self._waiting[self.max_batch:]
        error: BaseException | None = None
        try:
            self.write([slot.item for slot in batch])
        except BaseException as exc:  # every caller of the batch gets it
            error = exc
        with self._lock:
            if self._waiting:
                successor = self._waiting[0]
                successor.lead = True
            else:
                successor = None
                self._leading = False
        for slot in batch:
            slot.error = error
            slot.done.set()
        if successor is not None:
            successor.done.set()
