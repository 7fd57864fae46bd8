"""The task ledger: `/tarefa/{id}`, `/tarefas`, and records of tasks sent outside the API."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from taskplatform.dead_letters.models import DeadLetter
from taskplatform.ledger.models import TaskRecord
from tests.integration.helpers import new_student_ids
from tests.integration.stack import Stack


def test_unknown_task_id_is_404(stack: Stack) -> None:
    response = stack.api.get(f"/tarefa/{uuid.uuid4()}")
    assert response.status_code == 404
    assert "unknown task id" in response.json()["detail"]


def test_a_task_records_each_transition_in_order(stack: Stack) -> None:
    ids = new_student_ids(stack.api, 1)
    accepted = stack.api.post("/checkin/batch", json=[{"aluno_id": ids[0]}]).json()
    assert accepted["state"] == "QUEUED"
    record = stack.wait_task(accepted["task_id"])
    assert [e["state"] for e in record["events"]] == ["QUEUED", "STARTED", "SUCCESS"]
    assert record["name"] == "checkins.ingest_batch" and record["queue"] == "checkins"
    assert record["attempts"] == 1 and record["params"] == {"items": 1}
    assert record["created_at"] <= record["started_at"] <= record["finished_at"]
    assert record["runtime_s"] is not None and record["runtime_s"] >= 0


def test_a_task_sent_outside_the_api_gets_its_record_and_a_failure_keeps_the_error(stack: Stack) -> None:
    task_id = f"external-{uuid.uuid4()}"
    # Mismatched columns: permanent bad input, failed at once and never retried.
    stack.send_raw("checkins.ingest_batch", {"aluno_ids": [1, 2], "instants": ["2026-11-20T10:00:00+00:00"]},
                   task_id=task_id, queue="checkins")
    record = stack.wait_task(task_id)
    assert record["state"] == "FAILURE"
    assert record["error_type"] == "PermanentError"
    assert "2 ids, 1 instants" in record["error_message"]
    assert "Traceback" in record["traceback"]
    assert [e["state"] for e in record["events"]] == ["STARTED", "FAILURE"] and record["attempts"] == 1


def test_task_list_filters_and_pages_newest_first(stack: Stack) -> None:
    since = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    ids = new_student_ids(stack.api, 3)
    sent = [stack.api.post("/checkin/batch", json=[{"aluno_id": i}]).json()["task_id"] for i in ids]
    for task_id in sent:
        stack.wait_task(task_id)

    page = stack.api.get("/tarefas", params={"since": since, "queue": "checkins", "limit": 2}).json()
    assert page["total"] >= 3 and len(page["items"]) == 2
    recent = stack.api.get("/tarefas", params={"since": since, "name": "checkins.ingest_batch",
                                               "state": "SUCCESS", "limit": 500}).json()["items"]
    order = [item["task_id"] for item in recent if item["task_id"] in sent]
    assert order == list(reversed(sent))
    assert stack.api.get("/tarefas", params={"queue": "nonexistent"}).json() == {
        "total": 0, "limit": 50, "offset": 0, "items": [], "total_estimado": False, "proximo": None}
    assert stack.api.get("/tarefas", params={"state": "BOGUS"}).status_code == 422
    assert stack.api.get("/tarefas", params={"limit": 0}).status_code == 422


def test_the_retention_purge_deletes_old_finished_records_only(stack: Stack) -> None:
    old_done, old_running = f"old-{uuid.uuid4()}", f"old-{uuid.uuid4()}"
    long_ago = datetime.now(UTC) - timedelta(days=45)
    with stack.engine.begin() as connection:
        for task_id, state in ((old_done, "SUCCESS"), (old_running, "STARTED")):
            connection.execute(insert(TaskRecord).values(id=task_id, name="reports.daily", queue="reports",
                                                         state=state, attempts=1, created_at=long_ago,
                                                         updated_at=long_ago))
    assert stack.api.get(f"/tarefa/{old_done}").status_code == 200
    purge_id = f"purge-{uuid.uuid4()}"
    stack.send_raw("maintenance.purge_expired", {}, task_id=purge_id, queue="reports")
    record = stack.wait_task(purge_id)
    assert record["state"] == "SUCCESS" and record["result"]["task_records"] >= 1, record
    assert stack.api.get(f"/tarefa/{old_done}").status_code == 404
    assert stack.api.get(f"/tarefa/{old_running}").json()["state"] == "STARTED"


def test_tasks_and_dead_letters_page_with_offset(stack: Stack) -> None:
    """Breach caught: `offset` ignored, or pages that overlap or skip: five tasks and five dead letters of this
    test, read two at a time, give each exactly once, newest first."""
    since = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    ids = new_student_ids(stack.api, 5)
    sent = [stack.api.post("/checkin/batch", json=[{"aluno_id": i}]).json()["task_id"] for i in ids]
    for task_id in sent:
        stack.wait_task(task_id)
    params = {"since": since, "name": "checkins.ingest_batch", "limit": 500}
    ours = [t["task_id"] for t in stack.api.get("/tarefas", params=params).json()["items"] if t["task_id"] in sent]
    assert ours == list(reversed(sent))
    everything = [t["task_id"] for t in stack.api.get("/tarefas", params=params).json()["items"]]
    paged = [t["task_id"] for offset in range(0, len(everything) + 2, 2)
             for t in stack.api.get("/tarefas", params={**params, "limit": 2, "offset": offset}).json()["items"]]
    assert paged == everything

    queue = f"paging-{uuid.uuid4().hex[:8]}"
    with stack.engine.begin() as connection:
        for n in range(5):
            connection.execute(insert(DeadLetter).values(queue=queue, reason="invalid_message", body=f"letter {n}",
                                                         attempts=1, created_at=datetime.now(UTC)
                                                         + timedelta(seconds=n)))
    pages = [stack.api.get("/dead-letters", params={"queue": queue, "limit": 2, "offset": o}).json()
             for o in (0, 2, 4)]
    assert [p["total"] for p in pages] == [5, 5, 5]
    assert [letter["body"] for p in pages for letter in p["items"]] == [f"letter {n}" for n in range(4, -1, -1)]
