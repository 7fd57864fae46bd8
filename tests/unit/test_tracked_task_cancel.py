"""TrackedTask and cancels, run by Celery's own tracer (`apply`) on SQLite: a cancelled task's body never runs, a
running one stops at its next progress point, and neither is recorded as a failure."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from sqlalchemy.orm import Session

from taskplatform.core.db import Base, get_engine, session_factory
from taskplatform.core.settings import get_settings
from taskplatform.ledger.cancellation import cancel_task
from taskplatform.ledger.records import create_task_record, get_task_record, task_events


@pytest.fixture
def app(clean_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Celery]:
    monkeypatch.setenv("TASKPLATFORM_ENV_FILE", "")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/ledger.db")
    for cached in (get_settings, get_engine, session_factory):
        cached.cache_clear()
    Base.metadata.create_all(get_engine())
    yield Celery("cancel", task_cls="taskplatform.ledger.tracked_task:TrackedTask", set_as_current=False)
    get_engine().dispose()
    for cached in (get_settings, get_engine, session_factory):
        cached.cache_clear()


def _queued(task_id: str, name: str) -> None:
    with Session(get_engine()) as session:
        create_task_record(session=session, task_id=task_id, name=name, queue="reports")
        session.commit()


def _cancel(task_id: str) -> str:
    with Session(get_engine()) as session:
        return cancel_task(session=session, task_id=task_id, by="anonymous")


def _ledger(task_id: str) -> tuple[str, list[str]]:
    with Session(get_engine()) as session:
        record = get_task_record(session=session, task_id=task_id)
        assert record is not None
        return record.state, [e.state for e in task_events(session=session, task_id=task_id)]


def test_a_canceled_task_is_skipped_before_its_body(app: Celery) -> None:
    ran: list[str] = []

    @app.task(name="reports.daily", bind=True, shared=False)  # not also in every later app
    def daily(self: Any) -> None:
        ran.append("body")

    _queued("t1", "reports.daily")
    assert _cancel("t1") == "CANCELED"
    result = daily.apply(task_id="t1")
    assert result.state == "IGNORED"  # Celery acknowledges the message and runs no handler
    assert ran == []
    assert _ledger("t1") == ("CANCELED", ["QUEUED", "CANCELED"])


def test_a_running_task_stops_at_its_next_progress_point(app: Celery) -> None:
    ran: list[int] = []

    @app.task(name="reports.daily", bind=True, shared=False)  # not also in every later app
    def daily(self: Any) -> None:
        self.report_progress(10, "first stage")
        ran.append(1)
        assert _cancel(self.request.id) == "CANCELING"
        self.report_progress(50, "second stage")
        ran.append(2)

    _queued("t2", "reports.daily")
    assert daily.apply(task_id="t2").state == "IGNORED"
    assert ran == [1]
    assert _ledger("t2") == ("CANCELED", ["QUEUED", "STARTED", "PROGRESS", "CANCELING", "CANCELED"])


def test_stop_if_canceled_is_a_progress_point_without_progress(app: Celery) -> None:
    @app.task(name="textgen.generate", bind=True, shared=False)  # not also in every later app
    def generate(self: Any) -> str:
        _cancel(self.request.id)
        probe = self.cancel_probe(every_s=0)
        assert probe() and probe()
        self.stop_if_canceled()
        return "never"

    _queued("t3", "textgen.generate")
    assert generate.apply(task_id="t3").state == "IGNORED"
    assert _ledger("t3") == ("CANCELED", ["QUEUED", "STARTED", "CANCELING", "CANCELED"])


def test_a_task_never_canceled_runs_as_before(app: Celery) -> None:
    @app.task(name="reports.daily", bind=True, shared=False)  # not also in every later app
    def daily(self: Any) -> str:
        self.report_progress(10, "stage")
        return "done"

    _queued("t4", "reports.daily")
    assert daily.apply(task_id="t4").get() == "done"
    assert _ledger("t4") == ("SUCCESS", ["QUEUED", "STARTED", "PROGRESS", "SUCCESS"])
