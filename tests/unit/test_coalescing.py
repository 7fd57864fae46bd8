"""The API's group commit (api/coalescing.py), without servers: when a group is flushed, and what each caller gets."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

from api.coalescing import Coalescer

T = TypeVar("T")


def run(scenario: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(asyncio.wait_for(scenario(), 20))


class Recorder:
    """The blocking work: records each group it is given and answers each item with its double."""

    def __init__(self, fail: bool = False) -> None:
        self.groups: list[list[int]] = []
        self.fail = fail

    def __call__(self, items: list[int]) -> list[int]:
        self.groups.append(list(items))
        if self.fail:
            raise RuntimeError("broker down")
        return [item * 2 for item in items]


def test_a_full_group_is_flushed_at_once_without_waiting_for_the_timer() -> None:
    """Breach caught: a group that waits for the timer although it is full (the timer here is an hour)."""
    work = Recorder()
    coalescer = Coalescer(work, max_size=3, max_wait_s=3600)

    async def scenario() -> list[int]:
        return list(await asyncio.wait_for(asyncio.gather(*(coalescer.submit(n) for n in range(6))), 10))

    assert run(scenario) == [0, 2, 4, 6, 8, 10]
    assert sorted(work.groups) == [[0, 1, 2], [3, 4, 5]]  # two flushes may run at once, in threads


def test_a_partial_group_is_flushed_by_the_timer() -> None:
    """Breach caught: requests fewer than max_size that wait forever (or are flushed one by one)."""
    work = Recorder()
    coalescer = Coalescer(work, max_size=100, max_wait_s=0.05)

    async def scenario() -> list[int]:
        return list(await asyncio.gather(*(coalescer.submit(n) for n in range(5))))

    assert run(scenario) == [0, 2, 4, 6, 8]
    assert work.groups == [[0, 1, 2, 3, 4]]


def test_a_remainder_after_full_groups_goes_with_the_timer_and_later_requests_start_a_new_group() -> None:
    work = Recorder()
    coalescer = Coalescer(work, max_size=2, max_wait_s=0.05)

    async def scenario() -> list[int]:
        first = await asyncio.gather(*(coalescer.submit(n) for n in range(5)))
        second = await coalescer.submit(7)
        return [*first, second]

    assert run(scenario) == [0, 2, 4, 6, 8, 14]
    assert sorted(work.groups) == [[0, 1], [2, 3], [4], [7]]


def test_a_failed_flush_fails_every_caller_of_its_group_and_only_them() -> None:
    work = Recorder(fail=True)
    coalescer = Coalescer(work, max_size=3, max_wait_s=3600)

    async def scenario() -> list[BaseException | int]:
        return list(await asyncio.gather(*(coalescer.submit(n) for n in range(3)), return_exceptions=True))

    outcomes = run(scenario)
    assert all(isinstance(o, RuntimeError) and str(o) == "broker down" for o in outcomes), outcomes
    assert work.groups == [[0, 1, 2]]


def test_limits_are_checked() -> None:
    with pytest.raises(ValueError):
        Coalescer(Recorder(), max_size=0, max_wait_s=0.01)
    with pytest.raises(ValueError):
        Coalescer(Recorder(), max_size=10, max_wait_s=0)
