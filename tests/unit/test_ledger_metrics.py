"""The finished tasks' share of `/metrics` on a large ledger: served from the last reading, read again behind."""

from __future__ import annotations

import threading

from taskplatform.core.ledger_metrics import StaleWhileRefreshing
from taskplatform.dev.processes import wait_until


def test_the_first_read_waits_then_a_stale_value_is_served_while_it_is_read_again() -> None:
    started: list[int] = []
    release = threading.Event()

    def load() -> int:
        started.append(1)
        if len(started) > 1:  # every reading after the first waits until the test lets it go
            release.wait(10)
        return len(started)

    cache = StaleWhileRefreshing(load, ttl_s=0.0)
    assert cache.get() == 1  # nothing to serve yet: the caller reads
    assert [cache.get() for _ in range(5)] == [1] * 5  # stale: served as it is...
    wait_until(lambda: len(started) == 2, timeout=10, what="the background reading")
    assert cache.get() == 1 and len(started) == 2  # ...with one reading behind, not one per call
    release.set()
    wait_until(lambda: cache.get() >= 2, timeout=10, what="the background reading's value")


def test_a_fresh_value_is_not_read_again() -> None:
    loads: list[int] = []
    cache = StaleWhileRefreshing(lambda: loads.append(1) or len(loads), ttl_s=3600)
    assert [cache.get() for _ in range(5)] == [1] * 5 and len(loads) == 1
