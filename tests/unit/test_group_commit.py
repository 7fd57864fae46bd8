"""Group commit (taskplatform/ledger/group_commit.py): concurrent callers share writes, each returns once its row
is written, and a failed write fails exactly the callers whose rows it held."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from taskplatform.ledger.group_commit import GroupCommit


def test_a_lone_caller_writes_at_once_alone() -> None:
    writes: list[list[int]] = []
    GroupCommit(writes.append).submit(1)
    assert writes == [[1]]


def test_callers_arriving_during_a_write_share_the_next_one_and_every_row_is_written_once() -> None:
    writes: list[list[int]] = []
    first_started, release = threading.Event(), threading.Event()

    def write(rows: list[int]) -> None:
        if not writes:
            first_started.set()
            assert release.wait(10)
        writes.append(rows)

    group = GroupCommit(write)
    with ThreadPoolExecutor(max_workers=9) as pool:
        first = pool.submit(group.submit, 0)
        assert first_started.wait(10)
        others = [pool.submit(group.submit, n) for n in range(1, 9)]
        # the eight queue up behind the write in progress: none of them has returned
        assert not any(f.done() for f in others)
        release.set()
        for future in [first, *others]:
            future.result(timeout=10)
    assert writes[0] == [0]
    assert sorted(n for rows in writes[1:] for n in rows) == list(range(1, 9))
    assert len(writes) < 9  # they shared writes


def test_a_failed_write_fails_its_callers_only_and_the_next_write_goes_on() -> None:
    def write(rows: list[int]) -> None:
        if 13 in rows:
            raise ConnectionError("database unreachable")

    group = GroupCommit(write)
    with pytest.raises(ConnectionError):
        group.submit(13)
    group.submit(14)  # the lead was handed back: no caller waits for a leader that failed


def test_many_threads_all_return_and_no_row_is_lost_or_written_twice() -> None:
    written: list[int] = []
    lock = threading.Lock()

    def write(rows: list[int]) -> None:
        with lock:
            written.extend(rows)

    group = GroupCommit(write, max_batch=7)
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(group.submit, range(2000), timeout=60))
    assert sorted(written) == list(range(2000))
