"""Worker inspections: one round at a time, shared by concurrent callers, bounded; the replies merged per worker."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime

from taskplatform.messaging.worker_status import Inspection, InspectionCache, worker_summary


def _inspection(**workers: dict) -> Inspection:
    now = time.monotonic()
    return Inspection(dict(workers), datetime.now(UTC), now, 0.0)


class CountingInspect:
    """Stands in for a broker round: takes `seconds`, counts how many rounds ran and how many at once."""

    def __init__(self, seconds: float = 0.0, release: threading.Event | None = None) -> None:
        self.seconds, self.release = seconds, release
        self.calls = self.running = self.most_at_once = 0
        self._lock = threading.Lock()

    def __call__(self) -> Inspection:
        with self._lock:
            self.calls += 1
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        if self.release is not None:
            self.release.wait(10)
        time.sleep(self.seconds)
        with self._lock:
            self.running -= 1
        return _inspection(**{f"w{self.calls}@host": {}})


def test_concurrent_callers_share_one_round_then_the_cache() -> None:
    """Breach caught: every caller starting its own inspection (twelve callers, twelve broadcasts)."""
    inspect = CountingInspect(seconds=0.2)
    cache = InspectionCache(inspect, max_age=60, budget=10)

    async def scenario() -> list[Inspection]:
        first = await asyncio.gather(*(cache.get() for _ in range(12)))
        return [*first, await cache.get()]

    answers = asyncio.run(scenario())
    assert inspect.calls == 1 and inspect.most_at_once == 1
    assert all(a is answers[0] for a in answers)


def test_a_stale_inspection_is_refreshed_by_one_round() -> None:
    """Breach caught: an answer older than `max_age` served forever, or refreshed by several rounds at once."""
    inspect = CountingInspect(seconds=0.05)
    cache = InspectionCache(inspect, max_age=0, budget=10)

    async def scenario() -> tuple[Inspection, list[Inspection]]:
        first = await cache.get()
        return first, list(await asyncio.gather(*(cache.get() for _ in range(5))))

    first, refreshed = asyncio.run(scenario())
    assert inspect.calls == 2 and inspect.most_at_once == 1
    assert all(r is refreshed[0] for r in refreshed) and refreshed[0] is not first


def test_an_inspection_that_found_no_worker_is_not_reused() -> None:
    """Breach caught: `/status` reporting no worker for a whole cache period after a worker came up."""
    answers = iter([_inspection(), _inspection(**{"w@host": {}})])
    cache = InspectionCache(lambda: next(answers), max_age=60, budget=10)

    async def scenario() -> tuple[Inspection, Inspection, Inspection]:
        return await cache.get(), await cache.get(), await cache.get()

    empty, found, cached = asyncio.run(scenario())
    assert not empty.ok and found.ok and cached is found


def test_a_round_that_overruns_its_budget_is_not_waited_for() -> None:
    """Breach caught: a broker that stops answering mid-round hanging every `/status` and `/celery-status`."""
    release = threading.Event()
    inspect = CountingInspect(release=release)
    cache = InspectionCache(inspect, max_age=60, budget=0.2)

    async def scenario() -> list[Inspection]:
        return list(await asyncio.gather(*(cache.get() for _ in range(3))))

    try:
        answers = asyncio.run(scenario())
    finally:
        release.set()
    assert inspect.calls == 1
    assert all(not a.ok and "still running" in (a.reason or "") for a in answers)


def test_worker_summary_merges_each_workers_replies() -> None:
    """Breach caught: a worker's queues, counts or pool size taken from another worker's reply, or lost."""
    stats = {"a@h": {"pid": 11, "pool": {"max-concurrency": 2}}, "b@h": {"pid": 12, "pool": {}}}
    details = {"active_queues": {"a@h": [{"name": "reports"}, {"name": "checkins"}]},
               "registered": {"a@h": ["reports.daily"], "b@h": ["checkins.ingest_batch"]},
               "active": {"a@h": [{"id": "t1"}]}, "reserved": {"b@h": [{"id": "t2"}, {"id": "t3"}]}}
    summary = worker_summary(stats, details)
    assert summary == {
        "a@h": {"queues": ["checkins", "reports"], "registered_tasks": ["reports.daily"], "active": 1,
                "reserved": 0, "concurrency": 2, "pid": 11},
        "b@h": {"queues": [], "registered_tasks": ["checkins.ingest_batch"], "active": 0, "reserved": 2,
                "concurrency": None, "pid": 12},
    }
