"""Stopping and starting the local RabbitMQ and PostgreSQL servers for fault tests."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests.services import REGISTRY


def _require(tool: str) -> None:
    if shutil.which(tool) is None or os.geteuid() != 0:
        REGISTRY.skipped["service-control"] = f"{tool} (as root) is needed to stop and start the local server"
        import pytest

        pytest.skip(REGISTRY.skipped["service-control"])


def restart_rabbitmq_app() -> None:
    """Stop and start the broker application (queues and messages on disk survive)."""
    _require("rabbitmqctl")
    subprocess.run(["rabbitmqctl", "stop_app"], check=True, capture_output=True, timeout=120)
    subprocess.run(["rabbitmqctl", "start_app"], check=True, capture_output=True, timeout=120)
    subprocess.run(["rabbitmqctl", "await_startup"], check=True, capture_output=True, timeout=120)


def _cluster() -> list[str]:
    version = sorted(p.name for p in Path("/etc/postgresql").iterdir())[-1]
    return [version, "main"]


def stop_postgres() -> None:
    _require("pg_ctlcluster")
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", *_cluster(), "stop", "-m", "fast"], check=True,
                   capture_output=True, timeout=120)


def start_postgres() -> None:
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", *_cluster(), "start"], check=True,
                   capture_output=True, timeout=120)
