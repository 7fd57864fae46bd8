"""TrackedTask's retry limit comes from the settings when a task is bound to its app, not when tracking.py is
imported."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from celery import Celery

from taskplatform.core.settings import get_settings


@pytest.fixture
def app(clean_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Celery]:
    monkeypatch.setenv("TASKPLATFORM_ENV_FILE", "")
    get_settings.cache_clear()
    yield Celery("retries", task_cls="taskplatform.ledger.tracked_task:TrackedTask", set_as_current=False)
    get_settings.cache_clear()


def test_task_max_retries_is_read_when_the_task_is_bound(app: Celery, monkeypatch: pytest.MonkeyPatch) -> None:
    """Catches TASK_MAX_RETRIES frozen at import (a class attribute computed from the settings then): a value
    set after `taskplatform.ledger.tracked_task` was imported is the one the tasks retry up to."""
    import taskplatform.ledger.tracked_task  # noqa: F401  # imported before the setting exists

    monkeypatch.setenv("TASK_MAX_RETRIES", "13")
    get_settings.cache_clear()

    @app.task(name="retries.default")
    def default() -> None: ...

    @app.task(name="retries.own", max_retries=2)
    def own() -> None: ...

    app.finalize()
    assert default.max_retries == 13
    assert own.max_retries == 2  # a task's own limit wins over the setting
