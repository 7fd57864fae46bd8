"""Prometheus metrics read at scrape time from the ledger and the broker."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from kombu import Connection
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from taskplatform.core.db import session_scope
from taskplatform.core.ledger_metrics import (
    DURATION_BUCKETS,
    SETTLED_TTL_S,
    Settled,
    StaleWhileRefreshing,
    is_small,
    read_live,
    read_settled,
)
from taskplatform.core.settings import Settings
from taskplatform.dead_letters.store import count_by_queue
from taskplatform.messaging.queues import TASK_QUEUES

logger = logging.getLogger("taskplatform.core.metrics")



def _read_settled() -> Settled:
    with session_scope() as session:
        return read_settled(session)


#: One per process: every collector (the `/metrics` registry's, the console's) shares its reading.
_SETTLED = StaleWhileRefreshing(_read_settled, SETTLED_TTL_S)


class PlatformCollector(Collector):
    """Tasks by name and state, task durations and queue depths.

    Read from the ledger (the same numbers `/tarefas` shows) rather than counted in each
    process, so prefork workers and several API replicas need no shared metric files. On a large ledger the
    finished tasks' figures are up to `SETTLED_TTL_S` old (`taskplatform/core/ledger_metrics.py`).
    """

    def __init__(self, settings: Settings, queues: tuple[str, ...] = TASK_QUEUES) -> None:
        self._settings = settings
        self._queues = queues

    def collect(self) -> Iterator[Metric]:
        try:
            yield from self._ledger_metrics()
        except Exception:
            logger.exception("ledger metrics unavailable")
        yield self._queue_depths()

    def _ledger_metrics(self) -> Iterator[Metric]:
        tasks = GaugeMetricFamily("taskplatform_tasks", "Tasks in the ledger by name and state",
                                  labels=["name", "state"])
        durations = HistogramMetricFamily("taskplatform_task_duration_seconds",
                                          "Run time of finished tasks, by name", labels=["name"])
        dead = GaugeMetricFamily("taskplatform_dead_letters", "Dead letters not replayed yet, by queue",
                                 labels=["queue"])
        with session_scope() as session:
            live = read_live(session)
            settled = read_settled(session) if is_small(session) else _SETTLED.get()
            for queue, count in count_by_queue(session=session):
                dead.add_metric([queue], count)
        for name, state, count in [*live, *settled.counts]:
            tasks.add_metric([name, state], count)
        for name, count, total, cumulative in settled.durations:
            buckets = [(str(b), c) for b, c in zip(DURATION_BUCKETS, cumulative, strict=True)]
            durations.add_metric([name], buckets + [("+Inf", count)], total)
        yield tasks
        yield durations
        yield dead

    def _queue_depths(self) -> Metric:
        depth = GaugeMetricFamily("taskplatform_queue_depth", "Messages waiting in each task queue",
                                  labels=["queue"])
        try:
            with Connection(self._settings.broker_url, connect_timeout=2) as connection:
                channel = connection.default_channel
                for queue in self._queues:
                    try:
                        depth.add_metric([queue], _queue_size(channel, queue))
                    except Exception:
                        # A queue no worker has declared yet; AMQP closes the channel on that.
                        channel = connection.channel()
        except Exception:
            logger.exception("queue depth unavailable")
        return depth


def _queue_size(channel: object, queue: str) -> int:
    # Kombu's Redis channel knows a queue's size even when empty (a missing key) and sums
    # its priority sub-lists; AMQP answers a passive declare with the message count.
    size = getattr(channel, "_size", None)
    if size is not None:
        return int(size(queue))
    return int(channel.queue_declare(queue=queue, passive=True).message_count)  # type: ignore[attr-defined]
