"""`GET /agendamentos` through the app on SQLite: beat's fires newest first, filtered by entry, read-only, and
documented with its response model."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.main import create_app
from taskplatform.core.db import Base, get_engine, session_factory
from taskplatform.core.settings import get_settings
from taskplatform.messaging.schedule_runs import claim_fire
from tests.unit.settings_env import settings

READ = "read-key-0123456789abcdef"
FIRE = datetime(2026, 11, 22, 2, 55, tzinfo=UTC)


@pytest.fixture
def client(clean_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(settings(monkeypatch, API_KEYS="full-key-0123456789abcdef", API_READ_KEYS=READ,
                              TASKPLATFORM_ENV_FILE="", DATABASE_URL=f"sqlite:///{tmp_path}/api.db"))
    for cached in (get_settings, get_engine, session_factory):
        cached.cache_clear()
    Base.metadata.create_all(get_engine())
    with Session(get_engine()) as session, session.begin():
        for beat, task_id in (("host-a:1", "t1"), ("host-b:2", "t2")):  # two beats, one fire
            claim_fire(session=session, schedule="daily-report", fire_time=FIRE, task="reports.daily",
                       task_id=task_id, beat=beat)
        claim_fire(session=session, schedule="redeliver-lost", fire_time=FIRE + timedelta(minutes=2),
                   task="maintenance.redeliver_lost", task_id="t3", beat="host-b:2")
    yield TestClient(app)
    get_engine().dispose()
    for cached in (get_settings, get_engine, session_factory):
        cached.cache_clear()


def test_the_fires_are_listed_newest_first_with_their_winner_and_skipped_attempts(client: TestClient) -> None:
    assert client.get("/agendamentos").status_code == 401
    listed = client.get("/agendamentos", headers={"X-API-Key": READ}).json()
    assert (listed["total"], [r["task_id"] for r in listed["items"]]) == (2, ["t3", "t1"])
    only = client.get("/agendamentos", params={"schedule": "daily-report"}, headers={"X-API-Key": READ}).json()
    [run] = only["items"]
    assert (run["fired_by"], run["skipped"], run["skipped_by"]) == ("host-a:1", 1, "host-b:2")
    assert datetime.fromisoformat(run["fire_time"]) == FIRE and run["sent_at"] is None
    operation = client.get("/openapi.json").json()["paths"]["/agendamentos"]["get"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["$ref"].endswith("/ScheduleRunList")
