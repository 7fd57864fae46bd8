"""`POST /tarefa/{id}/cancelar` through the app on SQLite (no broker: a cancel only writes the ledger): who
cancelled is the caller's credential id, a read key may not cancel, and the document declares the answers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.auth.credentials import key_id
from api.main import create_app
from taskplatform.core.db import Base, get_engine, session_factory
from taskplatform.core.settings import get_settings
from taskplatform.ledger.records import create_task_record
from tests.unit.settings_env import settings

FULL, READ = "full-key-0123456789abcdef", "read-key-0123456789abcdef"


@pytest.fixture
def client(clean_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(settings(monkeypatch, API_KEYS=FULL, API_READ_KEYS=READ, TASKPLATFORM_ENV_FILE="",
                              DATABASE_URL=f"sqlite:///{tmp_path}/api.db"))
    for cached in (get_settings, get_engine, session_factory):
        cached.cache_clear()
    Base.metadata.create_all(get_engine())
    with Session(get_engine()) as session:
        create_task_record(session=session, task_id="t1", name="reports.daily", queue="reports")
        session.commit()
    yield TestClient(app)
    get_engine().dispose()
    for cached in (get_settings, get_engine, session_factory):
        cached.cache_clear()


def test_the_cancel_records_the_credential_and_a_read_key_may_not_cancel(client: TestClient) -> None:
    assert client.post("/tarefa/t1/cancelar", headers={"X-API-Key": READ}).status_code == 403
    answer = client.post("/tarefa/t1/cancelar", headers={"X-API-Key": FULL})
    assert answer.status_code == 202 and answer.json() == {"task_id": "t1", "state": "CANCELED"}
    record = client.get("/tarefa/t1", headers={"X-API-Key": READ}).json()
    assert record["canceled_by"] == key_id(FULL) and record["canceled_at"] is not None
    assert (record["reexecucao_de"], record["reexecucoes"]) == (None, [])
    assert record["events"][-1]["detail"] == {"by": key_id(FULL), "reason": "canceled while QUEUED"}
    refused = client.post("/tarefa/t1/reexecutar", headers={"X-API-Key": FULL})
    assert refused.status_code == 409 and "not kept" in refused.json()["detail"]  # enqueued without arguments
    assert client.post("/tarefa/nope/cancelar", headers={"X-API-Key": FULL}).status_code == 404


def test_the_document_declares_both_operations_answers(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for action in ("cancelar", "reexecutar"):
        operation = paths[f"/tarefa/{{task_id}}/{action}"]["post"]
        assert {"202", "404", "409"} <= set(operation["responses"]), action
    rerun = paths["/tarefa/{task_id}/reexecutar"]["post"]["responses"]["202"]["content"]["application/json"]
    assert rerun["schema"]["$ref"].endswith("/TaskRerunAccepted")
