"""Task names: each is declared once in `TaskName`, is a registered task, and is routed to a queue."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import Celery
from celery.app.routes import MapRoute

from taskplatform.core.settings import get_settings
from taskplatform.gym.schedule import GYM_SCHEDULE
from taskplatform.messaging.queues import TASK_QUEUES, queue_for, task_routes
from taskplatform.messaging.schedule import PLATFORM_SCHEDULE, REDELIVERY_SCHEDULE
from taskplatform.messaging.task_names import TaskName


@pytest.fixture(scope="module")
def registered() -> Iterator[set[str]]:
    """The platform's task names as a worker registers them: its app, with the task modules it includes."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("TASKPLATFORM_ENV_FILE", "")
        monkeypatch.setenv("BROKER_URL", "redis://127.0.0.1:6399/0")  # read by celeryconfig, never connected to
        get_settings.cache_clear()
        from taskplatform.messaging.celery_app import app
        assert isinstance(app, Celery)
        app.loader.import_default_modules()
        # A test module may define its own task (the fault tests load one with `-I`); when the whole suite runs in
        # one process it is registered here too, and is not the platform's.
        yield {name for name, task in app.tasks.items()
               if not name.startswith("celery.") and not task.__module__.startswith("tests.")}
    get_settings.cache_clear()


def test_every_registered_task_is_a_task_name(registered: set[str]) -> None:
    """Breach caught: a task registered under a literal name that `TaskName` does not declare."""
    assert registered - set(TaskName) == set()


def test_every_task_name_is_a_registered_task(registered: set[str]) -> None:
    """Breach caught: a name the API or beat enqueues that no worker runs (a typo, a removed task)."""
    assert set(TaskName) - registered == set()


@pytest.mark.parametrize("name", list(TaskName))
def test_every_task_name_routes_to_a_declared_queue(name: TaskName) -> None:
    """Breach caught: a task that would go to the default queue, or to one that is not declared."""
    assert queue_for(name) in TASK_QUEUES
    assert MapRoute(task_routes())(name) == {"queue": queue_for(name), "routing_key": queue_for(name)}


def test_task_names_are_the_wire_names() -> None:
    """Breach caught: a renamed member changing what is on the wire, in the ledger and in the metrics."""
    assert TaskName.CHECKINS_INGEST_BATCH == "checkins.ingest_batch"
    assert f"{TaskName.DEVICES_UPSERT}" == str(TaskName.DEVICES_UPSERT) == "devices.upsert"
    assert all(re.fullmatch(r"[a-z_]+\.[a-z_]+", name) for name in TaskName)  # <domain>.<verb>, routed by domain


def test_beat_runs_task_names_stored_as_plain_strings() -> None:
    """Breach caught: beat pickling an enum member into its schedule file, which then fails to load
    after the enum moves or loses the member; or a scheduled name no task declares."""
    for entry in {**GYM_SCHEDULE, **PLATFORM_SCHEDULE, **REDELIVERY_SCHEDULE}.values():
        assert type(entry["task"]) is str
        assert entry["task"] in set(TaskName)


def test_the_api_enqueues_by_name_and_never_imports_the_task_modules() -> None:
    """Breach caught: a router importing `tasks/` for a task's signature (the check-in router did), which loads
    the worker side into the API process."""
    root = Path(__file__).resolve().parents[2]
    importers = set()
    for path in (root / "api").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            modules = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                       else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(module == "tasks" or module.startswith("tasks.") for module in modules):
                importers.add(str(path.relative_to(root)))
    assert importers == set()


def test_celery_is_only_ever_handed_plain_task_names(registered: set[str]) -> None:
    """Breach caught: a member passed to Celery (a decorator, a signature, a route): Celery reads any object's
    `.name` as a task's, so the member's own name ("REPORTS_DAILY") would go on the wire."""
    assert Celery(set_as_current=False).signature(TaskName.REPORTS_DAILY)["task"] == "REPORTS_DAILY"  # the hazard
    assert {type(name) for name in registered} == {str}
    root = Path(__file__).resolve().parents[2]
    bare = re.compile(r"\bTaskName\.[A-Z][A-Z_]*\b(?!\.value)")
    uses = [f"{path.relative_to(root)}:{number}: {line.strip()}"
            for folder in ("api", "tasks", "taskplatform", "bench")
            for path in (root / folder).rglob("*.py") if path.name != "task_names.py"
            for number, line in enumerate(path.read_text().splitlines(), 1) if bare.search(line)]
    assert uses == []
