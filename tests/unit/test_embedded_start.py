"""Starting an embedded server whose port was taken between choosing it and binding it."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from taskplatform.dev.embedded import START_ATTEMPTS, free_port, port_open, start_listening
from taskplatform.dev.processes import Supervisor


def test_a_server_that_exits_at_start_is_started_again_on_new_ports(tmp_path: Path) -> None:
    """Breach caught: one `weed mini` of a parallel test run that lost a port to another process failed every
    test of its process after a 60 s wait (146 errors in one CI run), where starting it again on new ports works."""
    supervisor = Supervisor(log_dir=tmp_path / "logs")
    taken = socket.socket()  # the port another process took first (bound, not listening: nothing answers on it)
    taken.bind(("127.0.0.1", 0))
    ports = [taken.getsockname()[1], free_port()]
    commands = iter(ports)

    def command() -> tuple[list[str], int]:
        port = next(commands)
        return [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"], port

    try:
        port = start_listening(supervisor, "server", command, stop_timeout=5, timeout=30, what="a test server")
        assert port == ports[1] and port_open(port)
        assert "Address already in use" in (tmp_path / "logs" / "server.log").read_text()
    finally:
        supervisor.stop_all()
        taken.close()


def test_a_server_that_keeps_exiting_is_an_error_naming_its_log(tmp_path: Path) -> None:
    supervisor = Supervisor(log_dir=tmp_path / "logs")
    starts = []

    def command() -> tuple[list[str], int]:
        starts.append(1)
        return [sys.executable, "-c", "raise SystemExit(3)"], free_port()

    with pytest.raises(RuntimeError, match=r"exited at start 3 times; its log \(server.log\)"):
        start_listening(supervisor, "server", command, stop_timeout=5, timeout=30, what="a test server")
    assert len(starts) == START_ATTEMPTS
