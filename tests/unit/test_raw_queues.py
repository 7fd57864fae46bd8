"""Raw queues are declared by their domains and registered with the platform, which replays them by name."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import taskplatform.devices.raw_queue
import taskplatform.sessions.raw_queue  # noqa: F401  (registers raw_sessions)
from taskplatform.dead_letters.models import DeadLetter
from taskplatform.dead_letters.replay import replay_for
from taskplatform.messaging.raw_queues import RawQueue, register
from tests.unit.imports import ROOT

REGISTERED = """
import json, sys
{imports}
from taskplatform.messaging.raw_queues import registered
print(json.dumps(sorted(q.name for q in registered())))
"""


@pytest.mark.parametrize("imports", [
    "import api.main",
    "from taskplatform.messaging.celery_app import app\napp.loader.import_default_modules()",
], ids=["api", "worker"])
def test_the_api_and_the_worker_know_every_raw_queue(imports: str) -> None:
    """Breach caught: a process that replays dead letters (the API) or drains dead-letter queues (the worker)
    without having imported a domain's raw queue, so its letters would be 'not_replayable'."""
    env = {"BROKER_URL": "redis://127.0.0.1:1/0", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", REGISTERED.format(imports=imports)], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True).stdout
    assert json.loads(out.splitlines()[-1]) == ["rasp_data", "raw_sessions"]


def test_a_raw_letter_becomes_its_domains_task() -> None:
    replay = replay_for(DeadLetter(queue="rasp_data", reason="invalid_json", body='{"id": "pi-1", "cpu_temp": 48}'))
    assert (replay.task_name, replay.args, replay.kwargs) == ("devices.upsert", [],
                                                              {"reading": {"id": "pi-1", "cpu_temp": "48"}})
    session = {"user_id": "u1", "session_uuid": "s1", "events": []}
    replay = replay_for(DeadLetter(queue="raw_sessions", reason="x", body=json.dumps(session)))
    assert replay.task_name == "sessions.persist" and replay.kwargs["session"]["user_id"] == "u1"


def test_a_queue_cannot_be_registered_for_a_second_task() -> None:
    clash = RawQueue(queue=taskplatform.devices.raw_queue.RASP_DATA.queue, task_name="other.task",
                     task_kwargs=lambda body: {})
    with pytest.raises(ValueError, match="rasp_data"):
        register(clash)
