"""Restarting the local RabbitMQ application for the broker-restart fault test (the only test that touches a
server the machine runs; it runs in the RabbitMQ test group, which no other group shares)."""

from __future__ import annotations

import os
import shutil
import subprocess

from tests.services import REGISTRY


def _require(tool: str) -> None:
    if shutil.which(tool) is None or os.geteuid() != 0:
        REGISTRY.skip("service-control", f"{tool} (as root) is needed to stop and start the local server")


def restart_rabbitmq_app() -> None:
    """Stop and start the broker application (queues and messages on disk survive)."""
    _require("rabbitmqctl")
    subprocess.run(["rabbitmqctl", "stop_app"], check=True, capture_output=True, timeout=120)
    subprocess.run(["rabbitmqctl", "start_app"], check=True, capture_output=True, timeout=120)
    subprocess.run(["rabbitmqctl", "await_startup"], check=True, capture_output=True, timeout=120)
