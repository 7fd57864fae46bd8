"""Worker liveness by consumption progress: the state a worker records, and the verdict on it.

A Celery worker can stay connected to its broker, answer `inspect ping` and yet take no message: after a broker
reconnect its consumer may never resume (a consumer the broker cancelled, a channel that died under a live
connection, a prefetch window that is never reopened). A ping goes through the remote-control queue, not through
the task consumer, so it cannot see this. What can: whether the worker keeps receiving messages while its queues
hold some.

The worker (`liveness_step`) keeps, per consumer (the task consumer and each raw-queue consumer), the queues it
should consume and when it last made progress: it received a message, it (re)started consuming, or it held as
many unacknowledged messages as its prefetch allows (a full worker is right to take nothing). Its consumer loop
writes that to a small JSON file every few seconds, so a loop that stops also stops the file. The probe
(`liveness_probe`) reads the file and asks the broker how many messages are ready only for the consumers whose
progress is stale: a busy worker costs the probe no broker round trip.

Times are `time.monotonic()`: one clock for the whole machine on Linux (the probe runs in the worker's container),
which a wall-clock jump cannot make look stale.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Name of a worker's file: one per worker node, so workers sharing a folder (one host, the tests) stay apart.
FILE_PREFIX = "taskplatform-worker-"
FILE_SUFFIX = ".json"


def state_path(folder: Path, node: str) -> Path:
    """The liveness file of worker `node` (`ingest@host`) in `folder`."""
    return folder / f"{FILE_PREFIX}{re.sub(r'[^A-Za-z0-9@._-]', '_', node)}{FILE_SUFFIX}"


@dataclass(frozen=True)
class ConsumerProgress:
    #: The queues this consumer should take messages from.
    queues: tuple[str, ...]
    #: Monotonic time of its last progress (a message received, a (re)start, or a full prefetch window).
    progress: float


@dataclass(frozen=True)
class WorkerState:
    pid: int
    node: str
    #: Monotonic time the consumer loop last wrote the file (its "alive" tick).
    tick: float
    consumers: Mapping[str, ConsumerProgress] = field(default_factory=dict)
    #: Warm shutdown under way: the worker stopped consuming on purpose and finishes its tasks.
    shutting_down: bool = False

    def to_json(self) -> str:
        return json.dumps({"pid": self.pid, "node": self.node, "tick": self.tick, "shutting_down": self.shutting_down,
                           "consumers": {name: {"queues": list(c.queues), "progress": c.progress}
                                         for name, c in self.consumers.items()}})

    @classmethod
    def from_json(cls, text: str) -> WorkerState:
        """The state written by `to_json`; ValueError (or KeyError, TypeError) when the text is not one."""
        data: dict[str, Any] = json.loads(text)
        consumers = {str(name): ConsumerProgress(tuple(str(q) for q in c["queues"]), float(c["progress"]))
                     for name, c in data["consumers"].items()}
        return cls(pid=int(data["pid"]), node=str(data["node"]), tick=float(data["tick"]), consumers=consumers,
                   shutting_down=bool(data.get("shutting_down", False)))


def write_state(path: Path, state: WorkerState) -> None:
    """Replace the file at once (write aside, then rename), so the probe never reads half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    aside = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    aside.write_text(state.to_json(), encoding="utf-8")
    os.replace(aside, path)


@dataclass(frozen=True)
class Verdict:
    healthy: bool
    reason: str


def consumer_verdict(*, name: str, last_progress: float, now: float, stale_after: float,
                     ready: Mapping[str, int] | None) -> Verdict:
    """One consumer: stuck only when its progress is older than `stale_after` AND a queue of it has ready
    messages. `ready` is the broker's count per queue, None when the broker could not be asked (then no
    verdict against the worker: restarting it would not bring a broker back, and the worker reconnects itself)."""
    idle_for = now - last_progress
    if idle_for <= stale_after:
        return Verdict(True, f"{name}: progress {idle_for:.0f} s ago")
    if ready is None:
        return Verdict(True, f"{name}: no progress for {idle_for:.0f} s, and the broker could not be asked "
                             "for its queues' depth: not judged")
    waiting = {queue: count for queue, count in sorted(ready.items()) if count > 0}
    if not waiting:
        return Verdict(True, f"{name}: idle for {idle_for:.0f} s, its queues are empty")
    listed = ", ".join(f"{queue} ({count})" for queue, count in waiting.items())
    return Verdict(False, f"{name}: no message taken for {idle_for:.0f} s (limit {stale_after:g} s) while "
                          f"messages are ready in {listed}")


def judge(state: WorkerState | None, *, now: float, stale_after: float, process_alive: bool,
          ready: Callable[[Sequence[str]], Mapping[str, int] | None]) -> Verdict:
    """The worker's verdict. `ready(queues)` asks the broker how many messages are ready in each queue (None when
    it cannot be asked); it is called only for consumers whose progress is stale, once, for all their queues."""
    if state is None:
        return Verdict(False, "no liveness file: the worker has not started consuming (or it was removed)")
    if not process_alive:
        return Verdict(False, f"worker process {state.pid} ({state.node}) is gone")
    if state.shutting_down:
        return Verdict(True, "warm shutdown under way: the worker finishes its tasks and takes no more")
    tick = f"; consumer loop last wrote {now - state.tick:.0f} s ago"
    stale = {name: c for name, c in state.consumers.items() if now - c.progress > stale_after}
    counts = ready(sorted({q for c in stale.values() for q in c.queues})) if stale else {}
    verdicts = [consumer_verdict(name=name, last_progress=c.progress, now=now, stale_after=stale_after,
                                 ready=None if counts is None else {q: counts.get(q, 0) for q in c.queues})
                for name, c in sorted(state.consumers.items())]
    failed = [v.reason for v in verdicts if not v.healthy]
    if failed:
        return Verdict(False, "; ".join(failed) + tick)
    return Verdict(True, ("; ".join(v.reason for v in verdicts) or "no consumer recorded") + tick)
