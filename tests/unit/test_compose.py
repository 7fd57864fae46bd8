"""docker/compose.yaml runs what the platform needs: every task queue has a worker, and priorities hold."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from taskplatform.queues import TASK_QUEUES

COMPOSE = Path(__file__).resolve().parents[2] / "docker" / "compose.yaml"


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())["services"]


def worker_queues(services: dict[str, Any]) -> dict[str, set[str]]:
    """service -> the queues its `celery worker -Q` consumes."""
    consumed = {}
    for name, service in services.items():
        command = service.get("command") or []
        if command[:4] == ["celery", "-A", "taskplatform", "worker"]:
            consumed[name] = set(command[command.index("-Q") + 1].split(","))
    return consumed


def test_every_task_queue_has_a_worker(services: dict[str, Any]) -> None:
    consumed = set().union(*worker_queues(services).values())
    assert set(TASK_QUEUES) <= consumed, f"no worker consumes {sorted(set(TASK_QUEUES) - consumed)}"


def test_predictions_never_share_a_worker_with_training(services: dict[str, Any]) -> None:
    for name, queues in worker_queues(services).items():
        assert not {"training", "predictions"} <= queues, f"{name} consumes both training and predictions"


def test_the_api_runs_several_processes(services: dict[str, Any]) -> None:
    assert "WEB_CONCURRENCY" in services["api"]["environment"]
