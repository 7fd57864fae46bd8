"""No-op tasks for `bench/ledger.py`, loaded only by its worker (`-I bench.noop_tasks`), never by production.

Both tasks are the platform's `TrackedTask` (the app's `task_cls`), so they share the class's settings
(late ack, reject on worker lost, retries). The plain one sets `tracked = False`, TrackedTask's own switch for
internal tasks: its hooks skip every ledger write. Nothing else differs.

Names: `enqueue_tracked` routes by `queue_for(name)`, which refuses names with no route; under the `checkins.`
prefix both land on the `checkins` queue through the existing `checkins.*` route, so no production route is
added for a benchmark. The benchmark also passes `queue="checkins"` explicitly to the plain publish.

Completion is counted the same way for both kinds and for every other task of the worker: Celery's
`task_success` signal (sent after the task's `on_success`, so after TrackedTask's SUCCESS write) appends one
byte to the file named by BENCH_COUNTER_FILE; a short task whose SUCCESS the main process writes
(taskplatform/ledger/final_states.py) is counted by the main process once that write is committed. An O_APPEND
write of one byte is atomic across processes and costs microseconds, no result backend and no database.
"""

from __future__ import annotations

import json
import os
from typing import Any

from celery import signals

from taskplatform.ledger import final_states
from taskplatform.messaging.celery_app import app

TRACKED = "checkins.bench_noop"
PLAIN = "checkins.bench_noop_plain"
QUEUE = "checkins"

#: This process id -> its descriptor of the counter file.
_counter: dict[int, int] = {}


@app.task(name=TRACKED, ledger_started=False)
def noop() -> None:
    """Nothing: what is measured is the platform around it."""


@app.task(name=PLAIN, tracked=False)
def noop_plain() -> None:
    """The same nothing, with the ledger off."""


def _tally(result: Any) -> None:
    path = os.environ.get("BENCH_COUNTER_FILE")
    if not path:
        return
    pid = os.getpid()
    if pid not in _counter:  # one descriptor per process, opened after the fork
        _counter.clear()
        _counter[pid] = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    # A carrier of coalesced health checks completes one task per member (devices.upsert_members).
    members = result.get("members") if isinstance(result, dict) else None
    os.write(_counter[pid], b"." * (members if isinstance(members, int) and members > 0 else 1))


def _count(sender: Any = None, result: Any = None, **_: Any) -> None:
    if getattr(sender.request, "tp_final_sent", False):
        return  # its SUCCESS is the main process's to write: counted there, after the commit (_count_committed)
    _tally(result)


def _count_committed(rows: list[str]) -> None:
    for row in rows:
        _tally(json.loads(row).get("result"))


def _listen_for_commits(**_: Any) -> None:
    writer = final_states.installed()
    if writer is not None:
        writer.listeners.append(_count_committed)


signals.task_success.connect(_count, weak=False)
signals.worker_ready.connect(_listen_for_commits, weak=False)
