"""Process supervisor and polling helper: real child processes, stopped with their whole group."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from taskplatform.dev.processes import Supervisor, wait_until

SLEEPER = "import time; time.sleep(60)"


def alive(pid: int) -> bool:
    """Whether `pid` still runs. A zombie counts as gone: an orphan is reaped by PID 1, which
    in some containers never reaps, so only the kernel's state tells that it is dead."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in {"Z", "X"}


@pytest.fixture
def strays() -> Iterator[list[int]]:
    """Pids to SIGKILL at teardown if a failing test left them running."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def read_pid(path: Path, strays: list[int]) -> int:
    wait_until(path.exists, timeout=10, interval=0.02, what=f"pid file {path.name}")
    pid = int(path.read_text())
    strays.append(pid)
    return pid


def write_own_pid(path: Path, *, ignore_sigterm: bool) -> str:
    """Python source that (optionally) ignores SIGTERM, then atomically publishes its pid and sleeps."""
    ignore = "signal.signal(signal.SIGTERM, signal.SIG_IGN); " if ignore_sigterm else ""
    return (f"import os, signal, time; {ignore}"
            f"open({str(path) + '.tmp'!r}, 'w').write(str(os.getpid())); "
            f"os.replace({str(path) + '.tmp'!r}, {str(path)!r}); time.sleep(60)")


def spawn_grandchild(path: Path, *, ignore_sigterm: bool, then: str) -> str:
    """Python source of a child that starts a grandchild (in the same process group) and then runs `then`."""
    grandchild = write_own_pid(path, ignore_sigterm=ignore_sigterm)
    return f"import subprocess, sys; subprocess.Popen([sys.executable, '-c', {grandchild!r}]); {then}"


@pytest.fixture
def supervisor() -> Iterator[Supervisor]:
    sup = Supervisor()
    yield sup
    sup.stop_all()  # never leave a process behind, even when a test fails


def test_wait_until_returns_once_the_predicate_is_true() -> None:
    calls = []

    def third_time_lucky() -> bool:
        calls.append(1)
        return len(calls) >= 3

    wait_until(third_time_lucky, timeout=5, interval=0.01)
    assert len(calls) == 3


def test_wait_until_treats_exceptions_as_not_ready() -> None:
    calls = []

    def flaky() -> bool:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionRefusedError("not yet")
        return True

    wait_until(flaky, timeout=5, interval=0.01)
    assert len(calls) == 3


def test_wait_until_times_out_naming_what_it_waited_for() -> None:
    with pytest.raises(TimeoutError, match="waiting for the answer to appear"):
        wait_until(lambda: False, timeout=0.3, interval=0.05, what="the answer to appear")


def test_wait_until_timeout_message_states_the_real_timeout() -> None:
    with pytest.raises(TimeoutError, match=r"after 0\.3 ?s"):
        wait_until(lambda: False, timeout=0.3, interval=0.05, what="x")


def test_stop_all_stops_a_running_child(supervisor: Supervisor) -> None:
    popen = supervisor.start("sleeper", [sys.executable, "-c", SLEEPER])
    assert popen.poll() is None
    supervisor.stop_all()
    assert popen.poll() == -signal.SIGTERM
    assert supervisor.children == []


def test_stop_all_stops_children_in_reverse_order(supervisor: Supervisor) -> None:
    first = supervisor.start("first", [sys.executable, "-c", SLEEPER])
    second = supervisor.start("second", [sys.executable, "-c", SLEEPER])
    supervisor.stop_all()
    assert first.poll() is not None and second.poll() is not None
    assert supervisor.children == []


@pytest.mark.parametrize("ignore_sigterm", [False, True], ids=["plain", "grandchild-ignores-sigterm"])
def test_stop_all_takes_the_grandchildren_too(supervisor: Supervisor, tmp_path: Path, strays: list[int],
                                              ignore_sigterm: bool) -> None:
    pid_file = tmp_path / "grandchild.pid"
    child = supervisor.start("parent", [sys.executable, "-c", spawn_grandchild(
        pid_file, ignore_sigterm=ignore_sigterm, then="import time; time.sleep(60)")])
    grandchild = read_pid(pid_file, strays)
    assert alive(grandchild)
    supervisor.stop_all()
    assert child.poll() is not None
    wait_until(lambda: not alive(grandchild), timeout=5, interval=0.02, what=f"grandchild {grandchild} to end")


def test_stop_takes_the_grandchild_of_a_child_that_already_exited(supervisor: Supervisor, tmp_path: Path,
                                                                  strays: list[int]) -> None:
    pid_file = tmp_path / "orphan.pid"
    child = supervisor.start("launcher", [sys.executable, "-c", spawn_grandchild(
        pid_file, ignore_sigterm=True, then="pass")])
    grandchild = read_pid(pid_file, strays)
    wait_until(lambda: child.poll() is not None, timeout=10, interval=0.02, what="the launcher to exit")
    assert supervisor.exited() == [("launcher", 0)]
    assert alive(grandchild)
    supervisor.stop("launcher")
    wait_until(lambda: not alive(grandchild), timeout=5, interval=0.02, what=f"grandchild {grandchild} to end")
    assert supervisor.children == []


def test_a_child_ignoring_sigterm_is_killed_after_its_stop_timeout(supervisor: Supervisor, tmp_path: Path,
                                                                   strays: list[int]) -> None:
    pid_file = tmp_path / "stubborn.pid"
    popen = supervisor.start("stubborn", [sys.executable, "-c", write_own_pid(pid_file, ignore_sigterm=True)],
                             stop_timeout=0.3)
    assert read_pid(pid_file, strays) == popen.pid  # SIGTERM is ignored from here on
    supervisor.stop_all()
    assert popen.poll() == -signal.SIGKILL


def test_exited_reports_exit_codes(supervisor: Supervisor) -> None:
    supervisor.start("runs", [sys.executable, "-c", SLEEPER])
    failed = supervisor.start("fails", [sys.executable, "-c", "raise SystemExit(3)"])
    wait_until(lambda: failed.poll() is not None, timeout=10, interval=0.02, what="the failing child to exit")
    assert supervisor.exited() == [("fails", 3)]


def test_kill_sigkills_and_forgets_the_child(supervisor: Supervisor) -> None:
    popen = supervisor.start("victim", [sys.executable, "-c", SLEEPER])
    supervisor.start("bystander", [sys.executable, "-c", SLEEPER])
    supervisor.kill("victim")
    assert popen.poll() == -signal.SIGKILL
    assert [m.name for m in supervisor.children] == ["bystander"]
    with pytest.raises(StopIteration):
        supervisor.get("victim")


def test_output_goes_to_the_log_dir(tmp_path: Path) -> None:
    sup = Supervisor(log_dir=tmp_path / "logs")
    try:
        talk = "import sys; print('hello'); print('oops', file=sys.stderr)"
        popen = sup.start("talker", [sys.executable, "-c", talk])
        wait_until(lambda: popen.poll() is not None, timeout=10, interval=0.02, what="the talker to exit")
    finally:
        sup.stop_all()
    assert (tmp_path / "logs" / "talker.log").read_text().split() == ["hello", "oops"]
