"""Worker profiles: a worker reserves several messages per process, and runs twice as many processes as CPUs,
only when every queue it consumes is short."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from celery.utils.sysinfo import cpu_budget

from taskplatform.messaging.queues import TASK_QUEUES
from taskplatform.messaging.worker_profiles import SHORT_TASK_QUEUES, concurrency, prefetch_multiplier

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("queues", "expected"), [
    (["checkins", "devices", "sessions"], 8),
    (["predictions"], 8),
    ([" devices ", ""], 8),
    (["checkins", "reports"], 1),  # one long queue: an hour of report must not hold reserved check-ins
    (["training"], 1),
    ([], 1),  # no -Q: the worker consumes every queue
    (list(TASK_QUEUES), 1),
])
def test_the_prefetch_follows_the_queues(queues: list[str], expected: int) -> None:
    assert prefetch_multiplier(queues, short=8) == expected


def test_every_short_queue_is_a_task_queue() -> None:
    assert set(TASK_QUEUES) > SHORT_TASK_QUEUES


@pytest.mark.parametrize(("queues", "short", "expected"), [
    (["checkins", "devices"], None, 4),  # twice the CPUs: short tasks wait on the database about half the time
    (["devices"], 3, 3),
    (["checkins", "reports"], None, 2),
    ([], None, 2),
])
def test_the_processes_follow_the_queues(queues: list[str], short: int | None, expected: int) -> None:
    assert concurrency(queues, short=short, cpus=2) == expected


_WORKER = """
import json, sys
from taskplatform.messaging.celery_app import app
worker = app.WorkController(**json.loads(sys.argv[1]))
print(json.dumps([worker.concurrency, worker.prefetch_multiplier, worker.max_tasks_per_child]))
"""


@pytest.mark.parametrize(("options", "env", "expected"), [
    ({"queues": ["devices"]}, {}, [2 * cpu_budget(use_cgroup_quota=True).count, 16, 100_000]),
    ({"queues": ["devices"]}, {"WORKER_SHORT_CONCURRENCY": "3"}, [3, 16, 100_000]),
    ({"queues": ["devices", "reports"]}, {}, [2, 1, 1000]),
    ({"queues": ["devices"]}, {"WORKER_CONCURRENCY": "1"}, [1, 16, 100_000]),  # the setting wins over the profile
    ({"queues": ["devices"], "concurrency": 5}, {"WORKER_CONCURRENCY": "1"}, [5, 16, 100_000]),  # -c over both
    ({"queues": ["devices"], "max_tasks_per_child": 50}, {}, [2 * cpu_budget(use_cgroup_quota=True).count, 16, 50]),
])
def test_a_worker_built_by_celery_takes_its_profile(options: dict[str, Any], env: dict[str, str],
                                                    expected: list[int]) -> None:
    """Celery's own WorkController (built, not started: it connects to nothing) with the platform's app: the
    profile is applied where Celery reads it, before the pool is made."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WORKER_")}
    done = subprocess.run([sys.executable, "-c", _WORKER, json.dumps(options)], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env={**clean, "BROKER_URL": "redis://127.0.0.1:1/0", **env})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == expected
