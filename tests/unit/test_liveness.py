"""The worker liveness verdict (taskplatform/messaging/liveness.py): stuck only when a consumer took nothing for too
long while its queues hold ready messages; never for an idle queue, a busy worker or a broker it cannot ask."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from pydantic import ValidationError

from taskplatform.core.settings import Settings
from taskplatform.messaging.liveness import (
    ConsumerProgress,
    WorkerState,
    consumer_verdict,
    judge,
    state_path,
    write_state,
)
from taskplatform.messaging.liveness_probe import find_state_file, process_alive, read_state
from taskplatform.messaging.liveness_step import ProgressRecorder

NOW = 10_000.0


def state(progress: float, *, queues: tuple[str, ...] = ("checkins", "devices"), shutting_down: bool = False,
          raw: float | None = None) -> WorkerState:
    consumers = {"tasks": ConsumerProgress(queues, progress)}
    if raw is not None:
        consumers["rasp_data"] = ConsumerProgress(("rasp_data",), raw)
    return WorkerState(pid=1234, node="ingest@pod", tick=NOW - 3, consumers=consumers, shutting_down=shutting_down)


class Broker:
    """Ready counts by queue; records which queues were asked."""

    def __init__(self, counts: Mapping[str, int] | None) -> None:
        self.counts = counts
        self.asked: list[list[str]] = []

    def __call__(self, queues: Sequence[str]) -> Mapping[str, int] | None:
        self.asked.append(list(queues))
        return None if self.counts is None else {q: self.counts.get(q, 0) for q in queues}


@pytest.mark.parametrize(("idle_for", "ready", "healthy", "words"), [
    (5, {"checkins": 50}, True, "progress 5 s ago"),           # fresh: whatever waits
    (600, {"checkins": 0}, True, "queues are empty"),           # idle queue: never a failure
    (600, None, True, "could not be asked"),                    # broker down: not the worker's fault
    (600, {"checkins": 3, "devices": 0}, False, "checkins (3)"),
    (121, {"devices": 1}, False, "limit 120 s"),
    (120, {"devices": 1}, True, "progress 120 s ago"),          # the threshold itself is still alive
])
def test_consumer_verdict(idle_for: float, ready: dict[str, int] | None, healthy: bool, words: str) -> None:
    verdict = consumer_verdict(name="tasks", last_progress=NOW - idle_for, now=NOW, stale_after=120, ready=ready)
    assert verdict.healthy is healthy
    assert words in verdict.reason


def test_a_fresh_worker_costs_no_broker_round_trip() -> None:
    broker = Broker({"checkins": 100})
    verdict = judge(state(NOW - 1), now=NOW, stale_after=120, process_alive=True, ready=broker)
    assert verdict.healthy and broker.asked == []


def test_a_stale_worker_with_messages_waiting_is_stuck() -> None:
    """Breach caught: a worker connected to its broker but taking nothing (its consumer gone after a reconnect)
    while its queue fills, kept alive forever."""
    broker = Broker({"devices": 7})
    verdict = judge(state(NOW - 300), now=NOW, stale_after=120, process_alive=True, ready=broker)
    assert not verdict.healthy
    assert "devices (7)" in verdict.reason and "300 s" in verdict.reason
    assert broker.asked == [["checkins", "devices"]]


def test_a_stale_worker_on_idle_queues_is_alive() -> None:
    """Breach caught: a probe that restarts every worker of a quiet queue."""
    verdict = judge(state(NOW - 3600), now=NOW, stale_after=120, process_alive=True, ready=Broker({}))
    assert verdict.healthy and "empty" in verdict.reason


def test_only_the_stale_consumers_queues_are_judged() -> None:
    """The task consumer is fresh; the raw consumer is stale with messages in its own queue."""
    broker = Broker({"rasp_data": 40, "checkins": 5})
    verdict = judge(state(NOW - 1, raw=NOW - 500), now=NOW, stale_after=120, process_alive=True, ready=broker)
    assert not verdict.healthy and "rasp_data (40)" in verdict.reason and "checkins" not in verdict.reason
    assert broker.asked == [["rasp_data"]]


def test_a_gone_process_is_dead_whatever_the_queues() -> None:
    verdict = judge(state(NOW - 1), now=NOW, stale_after=120, process_alive=False, ready=Broker({}))
    assert not verdict.healthy and "gone" in verdict.reason


def test_no_file_is_not_alive() -> None:
    verdict = judge(None, now=NOW, stale_after=120, process_alive=False, ready=Broker({}))
    assert not verdict.healthy and "no liveness file" in verdict.reason


def test_a_warm_shutdown_is_alive_although_it_takes_nothing() -> None:
    """Breach caught: a worker finishing its tasks after SIGTERM killed by its liveness probe."""
    verdict = judge(state(NOW - 900, shutting_down=True), now=NOW, stale_after=120, process_alive=True,
                    ready=Broker({"checkins": 9}))
    assert verdict.healthy


def test_the_file_round_trips_and_is_found(tmp_path: Path) -> None:
    written = state(NOW - 4, raw=NOW - 2)
    path = state_path(tmp_path, "ingest@pod/x")
    write_state(path, written)
    assert path.parent == tmp_path and "/" not in path.name
    assert read_state(find_state_file(tmp_path, None)) == written
    assert read_state(find_state_file(tmp_path, "ingest@pod/x")) == written
    write_state(state_path(tmp_path, "other@pod"), written)
    with pytest.raises(ValueError, match="--node"):
        find_state_file(tmp_path, None)
    assert read_state(find_state_file(tmp_path / "empty", None)) is None


def test_process_alive() -> None:
    assert process_alive(os.getpid())
    assert not process_alive(2**22 + 1)  # above Linux's pid_max


def test_the_recorder_counts_a_full_prefetch_window_as_progress(tmp_path: Path) -> None:
    """A worker holding as many messages as its prefetch allows (a long training) is right to take nothing."""
    recorder = ProgressRecorder()
    recorder.open(tmp_path / "w.json", "training@pod")
    full = False
    recorder.watch("tasks", ["training"], lambda: full)
    recorder.consumers["tasks"].progress -= 1000
    assert recorder.snapshot().consumers["tasks"].progress < recorder.snapshot().tick - 999
    full = True
    snapshot = recorder.snapshot()
    assert snapshot.consumers["tasks"].progress == snapshot.tick
    recorder.flush()
    assert read_state(tmp_path / "w.json") is not None


def test_opening_removes_a_file_left_by_an_earlier_process(tmp_path: Path) -> None:
    path = tmp_path / "w.json"
    write_state(path, state(NOW))
    ProgressRecorder().open(path, "ingest@pod")
    assert not path.exists()


def test_the_stale_limit_must_span_several_ticks(clean_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Breach caught: a limit shorter than the file's write interval, which calls a healthy worker stuck between
    two writes."""
    monkeypatch.setenv("WORKER_LIVENESS_INTERVAL_S", "10")
    monkeypatch.setenv("WORKER_LIVENESS_STALE_AFTER_S", "20")
    with pytest.raises(ValidationError, match="WORKER_LIVENESS_STALE_AFTER_S"):
        Settings(_env_file=None)
    monkeypatch.setenv("WORKER_LIVENESS_STALE_AFTER_S", "30")
    assert Settings(_env_file=None).worker_liveness_stale_after_s == 30
