"""Worker profiles: how many processes a worker runs and how many messages it reserves, chosen by its queues.

A worker consuming only short-task queues (tasks of milliseconds: a device reading, a session upload, a
prediction, a check-in batch) reserves `worker_short_prefetch` messages per process, so a process never waits a
broker round trip between two tasks. A worker that consumes any long-task queue (reports, training, text
generation) reserves one per process: a message reserved behind an hour of training would wait that hour, and
the broker could have given it to an idle worker. Every message is still acknowledged after its task returns, so
a worker that dies hands all its reserved messages back.
`--prefetch-multiplier` with a value other than the setting's (1) on the command line wins.

A short-task worker's processes are also replaced after SHORT_MAX_TASKS_PER_CHILD tasks instead of 1000
(`--max-tasks-per-child` on the command line, with another value, wins).

Processes: a short-task worker runs `worker_short_concurrency` processes, by default twice its CPUs. Its tasks
spend about as long waiting on the database (the ledger's read and write, each a round trip, the write waiting for
its commit) as computing, so one process per CPU leaves the CPUs half idle: on two cores, the ledger benchmark's
tracked tasks ran 1.3x faster at `-c 4` than at `-c 2` (BENCHMARKS.md, "The ledger's cost per task"), untracked
ones did not change. Any other worker runs two, as before (a training or a report holds a CPU and its memory). `-c`
on the command line or WORKER_CONCURRENCY wins: both reach the worker as a number, where the profile's turn is
Celery's "auto" sentinel, which the worker resolves only after `worker_init`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from celery import signals
from celery.utils.sysinfo import cpu_budget, is_auto_concurrency

from taskplatform.core.settings import get_settings

#: Queues whose tasks finish within milliseconds to about a second.
SHORT_TASK_QUEUES = frozenset({"checkins", "devices", "sessions", "predictions"})


#: Processes of a worker that consumes any long-task queue, unless told otherwise.
LONG_CONCURRENCY = 2
#: Tasks a short-task worker's process runs before it is replaced (any other worker: `worker_max_tasks_per_child`,
#: 1000). A thousand tasks of milliseconds is a few seconds of work: each replacement costs a fork and new
#: database and broker connections, and the ledger benchmark's rounds varied 2x with when a process was replaced.
SHORT_MAX_TASKS_PER_CHILD = 100_000


def short_only(queues: Iterable[str]) -> bool:
    """True for a worker whose queues are all short-task queues (False when they are not known: a worker without
    `-Q` consumes every queue)."""
    chosen = {q.strip() for q in queues if q.strip()}
    return bool(chosen) and chosen <= SHORT_TASK_QUEUES


def prefetch_multiplier(queues: Iterable[str], *, short: int) -> int:
    """`short` for a worker whose queues are all short-task queues, else 1."""
    return short if short_only(queues) else 1


def concurrency(queues: Iterable[str], *, short: int | None, cpus: int) -> int:
    """Processes for a worker that was given no number: `short` (default twice `cpus`) for a short-task worker,
    else LONG_CONCURRENCY."""
    if short_only(queues):
        return short or 2 * cpus
    return LONG_CONCURRENCY


def _apply_profile(sender: Any = None, **_: Any) -> None:
    # worker_init: the worker has chosen its queues (-Q) and read its prefetch, and has not built its consumer yet.
    # The command line's --prefetch-multiplier arrives resolved (its default is the setting), so only a value that
    # differs from the setting counts as chosen there.
    if sender is None:
        return
    selected = sender.app.amqp.queues.consume_from or ()
    settings = get_settings()
    if is_auto_concurrency(sender.concurrency):
        # The CPUs this process may use, capped to a container's CPU quota (a pod limited to one CPU on a
        # 64-core node must not start 128 processes): Celery's own measure for "auto".
        sender.concurrency = concurrency(selected, short=settings.worker_short_concurrency,
                                         cpus=cpu_budget(use_cgroup_quota=True).count)
    if sender.prefetch_multiplier == sender.app.conf.worker_prefetch_multiplier:
        sender.prefetch_multiplier = prefetch_multiplier(selected, short=settings.worker_short_prefetch)
    if short_only(selected) and sender.max_tasks_per_child == sender.app.conf.worker_max_tasks_per_child:
        sender.max_tasks_per_child = SHORT_MAX_TASKS_PER_CHILD


signals.worker_init.connect(_apply_profile)
