"""The worker main process's final states (taskplatform/ledger/final_states.py), without Celery or a database: a
pool process's row goes through the pipe, and the message's acknowledgement waits for its commit."""

from __future__ import annotations

import functools
import json
import os
import select
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from taskplatform.ledger import final_states
from taskplatform.ledger.final_state_writer import FinalStateWriter


class Database:
    """Records the batches; `down` makes writes fail until cleared."""

    def __init__(self) -> None:
        self.batches: list[list[tuple[str, str]]] = []
        self.states: dict[str, str] = {}
        self.down = threading.Event()
        self.failures = 0

    def write(self, batch: list[tuple[str, str]]) -> None:
        if self.down.is_set():
            self.failures += 1
            raise ConnectionError("database unreachable")
        self.batches.append(batch)

    def read(self, task_ids: list[str]) -> dict[str, str]:
        return {task_id: self.states[task_id] for task_id in task_ids if task_id in self.states}


@pytest.fixture
def database() -> Database:
    return Database()


@pytest.fixture
def writer(database: Database) -> Iterator[FinalStateWriter]:
    checked: list[tuple[Any, str | None]] = []
    writer = FinalStateWriter(database.write, database.read, lambda item, state: checked.append((item, state)))
    writer.checked = checked  # type: ignore[attr-defined]
    final_states.install(writer)
    writer.start()
    yield writer
    writer.stop()
    final_states.install(None)


def _worker_turn(writer: FinalStateWriter, until: Any, timeout: float = 10) -> None:
    """The worker's event loop, for a while: what it does when the thread wakes it."""
    deadline = time.monotonic() + timeout
    while not until():
        assert time.monotonic() < deadline, "timed out"
        select.select([writer.wake_r, writer.row_r], [], [], 0.05)
        writer.drain()
        writer.acknowledge_committed()


def test_the_acknowledgement_waits_for_the_rows_commit(writer: FinalStateWriter, database: Database) -> None:
    acked: list[str] = []
    database.down.set()
    assert final_states.send("t1", {"id": "t1", "result": {"n": 1}})
    assert writer.hold("t1", lambda: acked.append("t1"))  # the task returned: its row is not committed yet
    _worker_turn(writer, lambda: database.failures >= 2)
    assert acked == []  # still unwritten, so still unacknowledged, however long the outage lasts
    database.down.clear()
    _worker_turn(writer, lambda: acked == ["t1"])
    assert [[task_id for task_id, _ in batch] for batch in database.batches] == [["t1"]]
    assert json.loads(database.batches[0][0][1]) == {"id": "t1", "result": {"n": 1}}


def test_a_task_that_sent_no_row_is_acknowledged_at_once(writer: FinalStateWriter) -> None:
    assert not writer.hold("failed-task", lambda: None)


def test_a_row_committed_before_its_task_returned_is_acknowledged_at_once(writer: FinalStateWriter,
                                                                          database: Database) -> None:
    assert final_states.send("t2", {"id": "t2"})
    _worker_turn(writer, lambda: database.batches)
    assert not writer.hold("t2", lambda: None)


def test_rows_sent_together_are_written_together(writer: FinalStateWriter, database: Database) -> None:
    acked: list[str] = []
    database.down.set()  # the first write fails: everything sent meanwhile waits for the next
    for n in range(50):
        assert final_states.send(f"t{n}", {"id": f"t{n}"})
    for n in range(50):
        assert writer.hold(f"t{n}", functools.partial(acked.append, f"t{n}"))
    _worker_turn(writer, lambda: database.failures >= 1)
    database.down.clear()
    _worker_turn(writer, lambda: len(acked) == 50)
    assert sum(len(batch) for batch in database.batches) == 50
    assert len(database.batches) <= 2


def test_rows_the_pipe_cannot_carry_are_left_to_the_pool_process(writer: FinalStateWriter) -> None:
    assert not final_states.send("big", {"id": "big", "result": "x" * select.PIPE_BUF})
    assert not final_states.send("nul", {"id": "nul", "result": "a" + chr(0) + "b"})  # jsonb refuses NUL
    assert not final_states.send("set", {"id": "set", "result": {1, 2}})


def test_without_a_writer_the_pool_process_writes_its_own() -> None:
    final_states.install(None)
    assert not final_states.send("t", {"id": "t"})


def test_states_are_read_together_and_handed_back(writer: FinalStateWriter, database: Database) -> None:
    database.states = {"a": "QUEUED", "b": "CANCELED"}
    for task_id in ("a", "b", "c"):
        writer.check(task_id, task_id)
    checked = writer.checked  # type: ignore[attr-defined]
    _worker_turn(writer, lambda: len(checked) == 3)
    assert sorted(checked, key=str) == [("a", "QUEUED"), ("b", "CANCELED"), ("c", None)]


def test_a_pool_process_writes_through_the_inherited_pipe(writer: FinalStateWriter, database: Database) -> None:
    acked: list[str] = []
    pid = os.fork()
    if pid == 0:  # the pool process: sends and exits
        os._exit(0 if final_states.send("forked", {"id": "forked"}) else 1)
    assert os.waitpid(pid, 0)[1] == 0
    assert writer.hold("forked", lambda: acked.append("forked"))
    _worker_turn(writer, lambda: acked == ["forked"])


def test_under_load_one_round_per_window_and_the_rows_of_a_window_share_it(database: Database) -> None:
    acked: list[str] = []
    writer = FinalStateWriter(database.write, database.read, lambda item, state: None, window_s=0.3)
    final_states.install(writer)
    writer.start()
    try:
        assert final_states.send("first", {"id": "first"})  # after a quiet spell: written at once
        assert writer.hold("first", functools.partial(acked.append, "first"))
        _worker_turn(writer, lambda: acked == ["first"], timeout=0.25)
        for n in range(5):  # within the window that the first round opened
            assert final_states.send(f"t{n}", {"id": f"t{n}"})
            assert writer.hold(f"t{n}", functools.partial(acked.append, f"t{n}"))
        _worker_turn(writer, lambda: len(acked) == 6)
        assert [len(batch) for batch in database.batches] == [1, 5]
    finally:
        writer.stop()
        final_states.install(None)
