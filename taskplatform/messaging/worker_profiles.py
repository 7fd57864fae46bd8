"""Worker profiles: how many messages a worker reserves, chosen by the queues it consumes.

A worker consuming only short-task queues (tasks of milliseconds: a device reading, a session upload, a
prediction, a check-in batch) reserves `worker_short_prefetch` messages per process, so a process never waits a
broker round trip between two tasks. A worker that consumes any long-task queue (reports, training, text
generation) reserves one per process: a message reserved behind an hour of training would wait that hour, and
the broker could have given it to an idle worker. Every message is still acknowledged after its task returns, so
a worker that dies hands all its reserved messages back.
`--prefetch-multiplier` with a value other than the setting's (1) on the command line wins.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from celery import signals

from taskplatform.core.settings import get_settings

#: Queues whose tasks finish within milliseconds to about a second.
SHORT_TASK_QUEUES = frozenset({"checkins", "devices", "sessions", "predictions"})


def prefetch_multiplier(queues: Iterable[str], *, short: int) -> int:
    """`short` for a worker whose queues are all short-task queues, else 1 (also when the queues are not known:
    a worker without `-Q` consumes every queue)."""
    chosen = {q.strip() for q in queues if q.strip()}
    return short if chosen and chosen <= SHORT_TASK_QUEUES else 1


def _apply_profile(sender: Any = None, **_: Any) -> None:
    # worker_init: the worker has chosen its queues (-Q) and read its prefetch, and has not built its consumer yet.
    # The command line's --prefetch-multiplier arrives resolved (its default is the setting), so only a value that
    # differs from the setting counts as chosen there.
    if sender is None or sender.prefetch_multiplier != sender.app.conf.worker_prefetch_multiplier:
        return
    selected = sender.app.amqp.queues.consume_from
    sender.prefetch_multiplier = prefetch_multiplier(selected or (), short=get_settings().worker_short_prefetch)


signals.worker_init.connect(_apply_profile)
