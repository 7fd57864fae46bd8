"""A small supervisor for the processes `make up`, the tests and the benchmarks start."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

logger = logging.getLogger("taskplatform.dev.processes")


@dataclass
class Managed:
    name: str
    popen: subprocess.Popen[bytes]
    stop_timeout: float
    log: IO[bytes] | None = None


@dataclass
class Supervisor:
    """Starts commands in their own process groups and stops them in reverse order.

    Each child gets a session of its own, so a terminal's Ctrl-C reaches only the
    launcher, which then stops the children in order (API first, servers last): SIGTERM
    to each leader, then SIGKILL to whatever is left of its process group, so no pool
    process is left behind.
    """

    log_dir: Path | None = None
    children: list[Managed] = field(default_factory=list)

    def start(self, name: str, argv: Sequence[str], *, env: Mapping[str, str] | None = None,
              cwd: Path | None = None, stop_timeout: float = 20.0) -> subprocess.Popen[bytes]:
        log = None
        stdout: int | IO[bytes] | None = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 (closed in stop)
            stdout = log
        popen = subprocess.Popen(list(argv), env=dict(env) if env is not None else None, cwd=cwd,
                                 stdout=stdout, stderr=subprocess.STDOUT if log else None,
                                 stdin=subprocess.DEVNULL, start_new_session=True)
        self.children.append(Managed(name, popen, stop_timeout, log))
        logger.info("started %s (pid %s)", name, popen.pid)
        return popen

    def get(self, name: str) -> Managed:
        return next(m for m in self.children if m.name == name)

    def exited(self) -> list[tuple[str, int]]:
        """Children that are no longer running, with their exit codes."""
        return [(m.name, m.popen.returncode) for m in self.children if m.popen.poll() is not None]

    def kill(self, name: str, sig: signal.Signals = signal.SIGKILL) -> None:
        """Send a signal to a child's whole process group (used by fault tests)."""
        managed = self.get(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(managed.popen.pid, sig)
        if sig == signal.SIGKILL:
            managed.popen.wait()
            self._forget(managed)

    def stop(self, name: str) -> None:
        managed = self.get(name)
        self._stop(managed)
        self._forget(managed)

    def stop_all(self) -> None:
        for managed in reversed(list(self.children)):
            self._stop(managed)
            self._forget(managed)

    def _forget(self, managed: Managed) -> None:
        if managed.log:
            managed.log.close()
        if managed in self.children:
            self.children.remove(managed)

    @staticmethod
    def _stop(managed: Managed) -> None:
        pid = managed.popen.pid
        if managed.popen.poll() is None:
            logger.info("stopping %s (pid %s)", managed.name, pid)
            try:
                # The leader only, as an init system or `docker stop` signals it: a Celery worker's warm shutdown
                # stops its own pool, whereas a pool child signalled while the pool starts crashes the worker.
                os.kill(pid, signal.SIGTERM)
                managed.popen.wait(timeout=managed.stop_timeout)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                logger.warning("%s did not stop within %.0fs; killing it", managed.name, managed.stop_timeout)
        # Whatever is left of the group (a pool child, a server's helper) goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        managed.popen.wait()


def worker_command(*, queues: Sequence[str], concurrency: int | None, name: str,
                   extra: Sequence[str] = ()) -> list[str]:
    """`celery -A taskplatform worker` for the given queues, with this Python; `concurrency` None: as the
    settings and the worker profile choose (taskplatform/messaging/worker_profiles.py)."""
    processes = [] if concurrency is None else ["-c", str(concurrency)]
    return [sys.executable, "-m", "celery", "-A", "taskplatform", "worker", "-Q", ",".join(queues),
            *processes, "-n", name, "-l", "info", *extra]


def api_command(*, host: str, port: int, app: str = "api.main:app") -> list[str]:
    """`uvicorn <app>` (the platform's API by default) on host:port, with this Python."""
    return [sys.executable, "-m", "uvicorn", app, "--host", host, "--port", str(port)]


def wait_until(predicate: Callable[[], bool], *, timeout: float, interval: float = 0.1,
               what: str = "condition") -> None:
    """Poll `predicate` until it is true; raise TimeoutError naming `what` otherwise."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            if predicate():
                return
        except Exception as exc:  # not ready yet is an expected state while polling
            last_error = exc
        if time.monotonic() >= deadline:
            why = f" (last error: {type(last_error).__name__}: {last_error})" if last_error else ""
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}{why}")
        time.sleep(interval)
