"""`FinalStateWriter`: the worker main process's side of `final_states` (its design and crash story are there):
the pipes, the rows received, the thread that reads and writes the ledger, and the held acknowledgements."""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
import time
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("taskplatform.ledger.final_states")

#: Rows the thread writes in one statement at most.
MAX_BATCH = 500
#: Seconds a written row waits for its task's acknowledgement before it is forgotten (its pool process died in
#: between: the message is redelivered and the new run finds SUCCESS).
_FORGET_AFTER_S = 300.0

Ack = Callable[[], None]
#: Writes rows [(task id, row JSON)] in one transaction; raises to have the batch retried.
WriteBatch = Callable[[list[tuple[str, str]]], None]
#: The records' states of these task ids (ids without a record are left out).
ReadStates = Callable[[list[str]], dict[str, str]]
#: Called on the worker's thread with a checked task's item and its record's state (None: no record, or the read
#: failed: the task runs, and its final write still leaves a cancelled record alone).
OnChecked = Callable[[Any, "str | None"], None]


class FinalStateWriter:
    """The main process's side: the pipes, the rows received, the writing thread and the held acknowledgements.
    `drain`, `hold` and `acknowledge_committed` run on the worker's own thread (channels are not thread-safe)."""

    def __init__(self, write_batch: WriteBatch, read_states: ReadStates, on_checked: OnChecked, *,
                 max_batch: int = MAX_BATCH, window_s: float = 0.0) -> None:
        self.write_batch, self.read_states, self.on_checked = write_batch, read_states, on_checked
        self.max_batch, self.window_s = max_batch, window_s
        self._round_at = 0.0
        self.row_r, self.row_w = os.pipe()
        self.wake_r, self.wake_w = os.pipe()
        for fd in (self.row_r, self.wake_r, self.wake_w):
            os.set_blocking(fd, False)  # the pool processes' end (row_w) blocks: a full pipe slows them down
        self._partial = b""
        self._lock = threading.Condition()
        self._pending: dict[str, str] = {}
        self._writing: set[str] = set()
        self._held: dict[str, list[Ack]] = {}
        self._committed: dict[str, float] = {}
        self._ready: list[Ack] = []
        self._to_check: dict[str, Any] = {}
        self._checked: list[tuple[Any, str | None]] = []
        self._calls: list[Callable[[], None]] = []
        self._stopping = False
        self._thread: threading.Thread | None = None
        #: Called on the worker's thread with each committed batch's rows (the benchmark counts tasks with it).
        self.listeners: list[Callable[[list[str]], None]] = []
        self._committed_rows: list[str] = []

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ledger-final-states", daemon=True)
        self._thread.start()

    def drain(self) -> None:
        """Take the rows the pool processes sent."""
        chunks = []
        while True:
            try:
                chunk = os.read(self.row_r, 1 << 16)
            except BlockingIOError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        if not chunks:
            return
        lines = (self._partial + b"".join(chunks)).split(b"\n")
        self._partial = lines.pop()
        with self._lock:
            for line in lines:
                task_id, _, row = line.decode().partition("\t")
                self._pending[task_id] = row
            self._lock.notify()

    def hold(self, task_id: str, ack: Ack) -> bool:
        """True if `ack` must wait for the task's row to be committed (it is then called after the commit);
        False when it can be done now: the row is committed, or the pool process sent none."""
        self.drain()  # the row was written before the task returned, so it is in the pipe by now
        with self._lock:
            if task_id in self._pending or task_id in self._writing:
                self._held.setdefault(task_id, []).append(ack)
                return True
            self._committed.pop(task_id, None)
            return False

    def check(self, task_id: str, item: Any) -> None:
        """Read the task's state before it starts; `on_checked(item, state)` follows on the worker's thread."""
        with self._lock:
            self._to_check[task_id] = item
            self._lock.notify()

    def call(self, work: Callable[[], None]) -> None:
        """Run `work` on the writing thread (a rare write that must not block the worker's thread)."""
        with self._lock:
            self._calls.append(work)
            self._lock.notify()

    def acknowledge_committed(self) -> None:
        """Acknowledge the messages whose rows were committed, and pass on the checked tasks (woken by the thread
        through `wake_r`)."""
        with contextlib.suppress(BlockingIOError):
            os.read(self.wake_r, 1 << 12)
        with self._lock:
            ready, self._ready = self._ready, []
            rows, self._committed_rows = self._committed_rows, []
            checked, self._checked = self._checked, []
        for item, state in checked:
            self.on_checked(item, state)
        for ack in ready:
            ack()
        if rows:
            for listener in self.listeners:
                listener(rows)

    def settle(self, timeout: float) -> bool:
        """Wait (on the worker's thread, at shutdown) until every row received is committed and acknowledged;
        False if the time ran out (those messages stay unacknowledged and are redelivered)."""
        deadline = time.monotonic() + timeout
        while True:
            self.drain()
            self.acknowledge_committed()
            with self._lock:
                if not self._pending and not self._writing:
                    return True
            if time.monotonic() >= deadline:
                return False
            select.select([self.wake_r], [], [], 0.05)

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            self._lock.notify()

    def _run(self) -> None:
        delay = 0.1
        while True:
            with self._lock:
                while not (self._pending or self._to_check or self._calls or self._stopping):
                    self._lock.wait()
                # Under load, one round per window: what arrives meanwhile shares it (after a quiet spell the
                # round starts at once).
                until = self._round_at + self.window_s
                while (not self._stopping and len(self._pending) + len(self._to_check) < self.max_batch
                       and (now := time.monotonic()) < until):
                    self._lock.wait(until - now)
                self._round_at = time.monotonic()
                if self._stopping and not self._pending:
                    return
                checks = list(self._to_check.items())[:self.max_batch]
                for task_id, _ in checks:
                    del self._to_check[task_id]
                calls, self._calls = self._calls, []
                batch = list(self._pending.items())[:self.max_batch]
                for task_id, _ in batch:
                    del self._pending[task_id]
                    self._writing.add(task_id)
            if checks:
                self._check(checks)
            for work in calls:
                try:
                    work()
                except Exception:
                    logger.exception("ledger write failed")
            if not batch:
                continue
            try:
                self.write_batch(batch)
            except Exception:
                logger.exception("could not write %d tasks' SUCCESS; retrying in %.1fs (their messages stay "
                                 "unacknowledged)", len(batch), delay)
                with self._lock:
                    for task_id, row in batch:
                        self._writing.discard(task_id)
                        self._pending.setdefault(task_id, row)
                    if self._stopping:
                        return
                time.sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            delay = 0.1
            self._committed_batch(batch)

    def _check(self, checks: list[tuple[str, Any]]) -> None:
        try:
            states = self.read_states([task_id for task_id, _ in checks])
        except Exception:  # the tasks run: their final writes still leave cancelled records alone
            logger.exception("ledger read failed for %d tasks", len(checks))
            states = {}
        with self._lock:
            self._checked.extend((item, states.get(task_id)) for task_id, item in checks)
        self._wake()

    def _committed_batch(self, batch: list[tuple[str, str]]) -> None:
        now = time.monotonic()
        with self._lock:
            for task_id, row in batch:
                self._writing.discard(task_id)
                acks = self._held.pop(task_id, None)
                if acks:
                    self._ready.extend(acks)
                else:
                    self._committed[task_id] = now
                self._committed_rows.append(row)
            if len(self._committed) > 10 * self.max_batch:
                self._committed = {k: t for k, t in self._committed.items() if now - t < _FORGET_AFTER_S}
        self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError):  # a full pipe holds wake-ups enough
            os.write(self.wake_w, b"!")
