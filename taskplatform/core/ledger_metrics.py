"""The ledger's share of `/metrics`, cheap to scrape at a million task records.

Grouping the whole ledger by name and state (and summing run times into a histogram) reads every record: about
300 ms at 1,000,000, on every scrape. So it is split:
- live: tasks in a state that is not final (queued, running, retrying, cancelling), counted on every scrape.
  There are few of them (the composite index on (state, created_at, id) finds them), and they are what an
  operator alerts on: a backlog shows at the next scrape.
- settled: finished tasks by name and state, and the run-time histogram. These only grow as tasks finish (and
  shrink at the nightly purge), so on a large ledger they are read at most once per `SETTLED_TTL_S` per process,
  in a background thread while scrapes are answered with the previous reading (only the first scrape of a
  process waits for it). A small ledger (the planner estimates under `SMALL_LEDGER` records; SQLite always) is
  read in full on every scrape, exactly as before: it is cheap there.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from taskplatform.core.paging import planner_rows
from taskplatform.ledger.models import TaskRecord
from taskplatform.ledger.records import FINAL_STATES, TaskState, count_by_name_and_state

#: Upper bounds (seconds) of the task duration histogram.
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)
#: How stale the finished tasks' counts and durations may be on a large ledger (seconds).
SETTLED_TTL_S = 30.0
#: Below this many records (the planner's estimate) every scrape reads the whole ledger.
SMALL_LEDGER = 100_000
LIVE_STATES = sorted(str(s) for s in set(TaskState) - FINAL_STATES)
SETTLED_STATES = sorted(str(s) for s in FINAL_STATES)

T = TypeVar("T")


@dataclass
class Settled:
    #: (name, state, count) of tasks in a final state
    counts: list[tuple[str, str, int]]
    #: (name, count, sum of run times, cumulative count per DURATION_BUCKETS bound)
    durations: list[tuple[str, int, float, list[int]]]


def read_settled(session: Session) -> Settled:
    runtime = TaskRecord.runtime_s
    columns = [func.sum(case((runtime <= bound, 1), else_=0)) for bound in DURATION_BUCKETS]
    rows = session.execute(select(TaskRecord.name, func.count(runtime), func.sum(runtime), *columns)
                           .where(runtime.is_not(None)).group_by(TaskRecord.name))
    durations = [(name, int(count), float(total or 0.0), [int(c or 0) for c in cumulative])
                 for name, count, total, *cumulative in rows]
    return Settled(counts=count_by_name_and_state(session=session, states=SETTLED_STATES), durations=durations)


def read_live(session: Session) -> list[tuple[str, str, int]]:
    return count_by_name_and_state(session=session, states=LIVE_STATES)


def is_small(session: Session) -> bool:
    if session.get_bind().dialect.name != "postgresql":
        return True
    return planner_rows(session, select(TaskRecord.id)) < SMALL_LEDGER


@dataclass
class StaleWhileRefreshing(Generic[T]):
    """A value loaded by `load`, served as it is while a background thread loads it again once `ttl_s` old."""

    load: Callable[[], T]
    ttl_s: float
    _value: T | None = None
    _at: float = 0.0
    _refreshing: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self) -> T:
        with self._lock:
            value, stale = self._value, time.monotonic() - self._at > self.ttl_s
            if value is not None and stale and not self._refreshing:
                self._refreshing = True
                threading.Thread(target=self._refresh, name="ledger-metrics", daemon=True).start()
        return self._refresh() if value is None else value

    def _refresh(self) -> T:
        try:
            value = self.load()
            with self._lock:
                self._value, self._at = value, time.monotonic()
            return value
        finally:
            with self._lock:
                self._refreshing = False
