"""The worker's side of the liveness probe: records consumption progress and writes it to the liveness file.

Registered on the app's consumer blueprint (`celery_app.py`). Progress comes from Celery's own hooks, all in the
worker's main process: the `task_received` signal (the task consumer got a message), the raw-queue consumers'
message callback (`raw_consumer.py` calls `RECORDER.received`), and this step's `start`, which Celery runs again
after every broker reconnect. The file is written by a timer on the consumer's event loop, so a loop that hangs
stops writing; `worker_shutting_down` marks a warm shutdown, during which taking nothing is expected.
See `liveness.py` for what the probe makes of it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from celery import bootsteps, signals
from celery.worker import state as worker_state

from taskplatform.core.settings import get_settings
from taskplatform.messaging.liveness import ConsumerProgress, WorkerState, state_path, write_state

logger = logging.getLogger("taskplatform.messaging.liveness")

#: The consumer name the task consumer is recorded under (raw consumers use their queue's name).
TASKS = "tasks"


@dataclass
class _Watched:
    queues: tuple[str, ...]
    #: True while the consumer holds as many unacknowledged messages as its prefetch lets the broker send.
    saturated: Callable[[], bool]
    progress: float


class ProgressRecorder:
    """This worker process's consumers and their progress, kept in memory and written by `flush`."""

    def __init__(self) -> None:
        self.path: Path | None = None
        self.node = ""
        self.shutting_down = False
        self.consumers: dict[str, _Watched] = {}

    def open(self, path: Path, node: str) -> None:
        """Write to `path` from now on; a file left by an earlier process of this node goes (a fresh worker has
        proved nothing yet, and a startup probe waits for its first file)."""
        self.path, self.node, self.shutting_down = path, node, False
        with contextlib.suppress(FileNotFoundError):
            path.unlink()

    def watch(self, name: str, queues: Iterable[str], saturated: Callable[[], bool]) -> None:
        """A consumer (re)started: its progress starts now."""
        self.consumers[name] = _Watched(tuple(sorted(queues)), saturated, time.monotonic())

    def received(self, name: str) -> None:
        watched = self.consumers.get(name)
        if watched is not None:
            watched.progress = time.monotonic()

    def snapshot(self) -> WorkerState:
        now = time.monotonic()
        for watched in self.consumers.values():
            if watched.saturated():
                watched.progress = now
        return WorkerState(pid=os.getpid(), node=self.node, tick=now, shutting_down=self.shutting_down,
                           consumers={name: ConsumerProgress(w.queues, w.progress)
                                      for name, w in self.consumers.items()})

    def flush(self) -> None:
        if self.path is None:
            return
        try:
            write_state(self.path, self.snapshot())
        except OSError as exc:  # a full or read-only folder must not stop the consumer; the probe will see it
            logger.warning("cannot write the liveness file %s: %s", self.path, exc)


#: The worker process's recorder (one consumer per worker process).
RECORDER = ProgressRecorder()


def _task_consumer_saturated(c: Any) -> Callable[[], bool]:
    def saturated() -> bool:
        limit = c.qos.value if c.qos is not None else 0
        # Task messages received and not yet acknowledged (running ones included: acks are late).
        return bool(limit) and len(worker_state.reserved_requests) >= limit
    return saturated


class LivenessStep(bootsteps.StartStopStep):  # type: ignore[misc]  # Celery: no hints
    """Watches the task consumer and writes the liveness file on the consumer's event loop."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        settings = get_settings()
        self.interval = settings.worker_liveness_interval_s
        RECORDER.open(state_path(settings.worker_liveness_dir, parent.hostname), parent.hostname)
        self.timer_entry: Any = None

    def start(self, c: Any) -> None:
        # The queues the worker is meant to consume (`-Q`, else every queue), not those it happens to consume now:
        # a consumer cancelled under a live connection is exactly what the probe is for.
        queues = c.app.amqp.queues.consume_from or c.app.amqp.queues
        RECORDER.watch(TASKS, list(queues), _task_consumer_saturated(c))
        if self.timer_entry is not None:
            self.timer_entry.cancel()
        RECORDER.flush()
        self.timer_entry = c.timer.call_repeatedly(self.interval, RECORDER.flush)

    def stop(self, c: Any) -> None:
        if self.timer_entry is not None:
            self.timer_entry.cancel()
            self.timer_entry = None


def _on_task_received(sender: Any = None, **_: Any) -> None:
    RECORDER.received(TASKS)


def _on_shutting_down(**_: Any) -> None:
    RECORDER.shutting_down = True
    RECORDER.flush()


signals.task_received.connect(_on_task_received)
signals.worker_shutting_down.connect(_on_shutting_down)
