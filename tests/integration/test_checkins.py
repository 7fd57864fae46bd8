"""Bulk check-ins through the API, the broker and a real worker."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from taskplatform.dev.processes import wait_until
from tests.integration.helpers import (
    accepted_task,
    checkin_batch,
    checkins_of,
    new_student_ids,
    task_message_kwargs,
)
from tests.integration.stack import Stack


def _rows(stack: Stack, ids: list[int]) -> set[tuple[int, str]]:
    with stack.engine.connect() as connection:
        rows = connection.execute(text("SELECT aluno_id, data_hora FROM checkins WHERE aluno_id BETWEEN :lo AND :hi"),
                                  {"lo": min(ids), "hi": max(ids)}).all()
    return {(int(aluno_id), str(instant)) for aluno_id, instant in rows}


def test_batch_of_1000_is_stored_once_and_resending_inserts_nothing(stack: Stack) -> None:
    ids = new_student_ids(stack.api, 100)
    body = checkin_batch(ids, per_student=10)
    assert len(body) == 1000

    first = stack.api.post("/checkin/batch", json=body)
    assert first.status_code == 202, first.text
    assert first.json()["status_url"] == f"/tarefa/{first.json()['task_id']}"
    done = stack.wait_task(first.json()["task_id"])
    assert done["state"] == "SUCCESS", done
    assert done["result"] == {"inserted": 1000, "duplicates": 0, "unknown": 0, "unknown_aluno_ids": []}

    again = stack.api.post("/checkin/batch", json=body)
    assert again.status_code == 202
    assert again.json()["task_id"] != first.json()["task_id"]
    redo = stack.wait_task(again.json()["task_id"])
    assert redo["state"] == "SUCCESS"
    assert redo["result"]["inserted"] == 0 and redo["result"]["duplicates"] == 1000
    assert checkins_of(stack, ids) == 1000

    listed = stack.api.get("/tarefas", params={"state": "SUCCESS", "name": "checkins.ingest_batch",
                                               "limit": 500}).json()
    listed_ids = [item["task_id"] for item in listed["items"]]
    assert {first.json()["task_id"], again.json()["task_id"]} <= set(listed_ids)
    # Newest first.
    assert listed_ids.index(again.json()["task_id"]) < listed_ids.index(first.json()["task_id"])


def test_unknown_students_and_in_batch_duplicates_are_counted(stack: Stack) -> None:
    ids = new_student_ids(stack.api, 3)
    instant = "2026-11-20T10:00:00+00:00"
    body = [{"aluno_id": ids[0], "data_hora": instant}, {"aluno_id": ids[0], "data_hora": instant},
            {"aluno_id": ids[1], "data_hora": instant}, {"aluno_id": 987_654_321, "data_hora": instant}]
    done = stack.wait_task(stack.api.post("/checkin/batch", json=body).json()["task_id"])
    assert done["result"] == {"inserted": 2, "duplicates": 1, "unknown": 1, "unknown_aluno_ids": [987_654_321]}


def test_instants_without_offset_are_local_time_and_default_is_now(stack: Stack) -> None:
    ids = new_student_ids(stack.api, 2)
    before = datetime.now(UTC).replace(microsecond=0)
    body = [{"aluno_id": ids[0], "data_hora": "2026-03-10T10:00:00"}, {"aluno_id": ids[1]}]
    done = stack.wait_task(stack.api.post("/checkin/batch", json=body).json()["task_id"])
    assert done["result"]["inserted"] == 2
    with stack.engine.connect() as connection:
        rows = dict(connection.execute(text("SELECT aluno_id, data_hora FROM checkins WHERE aluno_id IN (:a, :b)"),
                                       {"a": ids[0], "b": ids[1]}).all())
    local = rows[ids[0]] if isinstance(rows[ids[0]], datetime) else datetime.fromisoformat(rows[ids[0]])
    # America/Sao_Paulo is UTC-3 (no daylight saving since 2019).
    assert local.replace(tzinfo=None) == datetime(2026, 3, 10, 13, 0, 0)
    default = rows[ids[1]] if isinstance(rows[ids[1]], datetime) else datetime.fromisoformat(rows[ids[1]])
    default = default.replace(tzinfo=UTC) if default.tzinfo is None else default
    assert before <= default <= datetime.now(UTC)


@pytest.mark.parametrize(("body", "where"), [
    ([{"aluno_id": "1"}], ["body", 0, "aluno_id"]),
    ([{"aluno_id": 1}, {"aluno_id": 1.5}], ["body", 1, "aluno_id"]),
    ([{"aluno_id": 1}, {"aluno_id": True}], ["body", 1, "aluno_id"]),
    ([{"aluno_id": 1}, {"aluno_id": 2}, {"aluno_id": -3}], ["body", 2, "aluno_id"]),
    ([{"aluno_id": 1}, {}], ["body", 1, "aluno_id"]),
    ([{"aluno_id": 1, "data_hora": "yesterday"}], ["body", 0, "data_hora"]),
    ([], ["body"]),
    ({"aluno_id": 1}, ["body"]),
    ([{"aluno_id": 1}] * 10_001, ["body"]),
])
def test_malformed_batches_are_422_with_the_offending_item_and_enqueue_nothing(
        stack: Stack, body: object, where: list[object]) -> None:
    before = stack.api.get("/tarefas", params={"limit": 1}).json()["total"]
    response = stack.api.post("/checkin/batch", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == where
    assert stack.api.get("/tarefas", params={"limit": 1}).json()["total"] == before


def test_a_body_that_is_not_json_is_a_422(stack: Stack) -> None:
    response = stack.api.post("/checkin/batch", content=b"[{aluno_id: 1",
                              headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"


def test_idempotency_key_returns_the_first_task(stack: Stack) -> None:
    ids = new_student_ids(stack.api, 1)
    body = [{"aluno_id": ids[0]}]
    headers = {"Idempotency-Key": f"retry-{ids[0]}"}
    first = stack.api.post("/checkin/batch", json=body, headers=headers).json()
    second = stack.api.post("/checkin/batch", json=body, headers=headers).json()
    assert second["task_id"] == first["task_id"]
    stack.wait_task(first["task_id"])
    assert checkins_of(stack, ids) == 1


def test_students_are_upserted_in_bulk_and_validated(stack: Stack) -> None:
    ids = new_student_ids(stack.api, 2)
    response = stack.api.post("/alunos", json=[{"aluno_id": ids[0], "nome": "Ana"},
                                               {"aluno_id": ids[0], "nome": "Ana Maria"}])
    assert response.json() == {"upserted": 1}
    with stack.engine.connect() as connection:
        assert connection.execute(text("SELECT nome FROM alunos WHERE id = :i"), {"i": ids[0]}).scalar() == "Ana Maria"
    bad = stack.api.post("/alunos", json=[{"aluno_id": ids[1]}, {"aluno_id": "x"}])
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", 1, "aluno_id"]


def test_a_redelivered_batch_without_instants_writes_the_same_rows(stack: Stack) -> None:
    """Breach caught: a check-in without `data_hora` stamped when a worker runs the task instead of when the API
    accepted it, so a redelivery a second later would insert the batch again. The same message is delivered a
    second time, in a later second than the first delivery, and must insert nothing: same rows, no new ones."""
    ids = new_student_ids(stack.api, 50)
    stack.stop_worker()
    try:
        task_id = accepted_task(stack.api.post("/checkin/batch", json=[{"aluno_id": i} for i in ids]))
        kwargs = task_message_kwargs(stack, "checkins", task_id)
    finally:
        stack.start_worker()
    first = stack.wait_task(task_id)
    assert first["result"]["inserted"] == 50, first
    stored = _rows(stack, ids)
    assert len(stored) == 50
    finished = datetime.fromisoformat(first["finished_at"].replace("Z", "+00:00"))
    wait_until(lambda: datetime.now(UTC).replace(microsecond=0) > finished, timeout=5, interval=0.05,
               what="the clock to pass the first delivery's second")
    log = stack.supervisor.log_dir / "worker.log"  # type: ignore[operator]
    succeeded = f"task succeeded: checkins.ingest_batch id={task_id}"
    stack.send_raw("checkins.ingest_batch", kwargs, task_id=task_id, queue="checkins")
    wait_until(lambda: log.read_text(errors="replace").count(succeeded) == 2, timeout=60, interval=0.2,
               what="the second delivery to finish")
    # The record stays as the first delivery left it (a SUCCESS is never replaced): the second delivery shows as
    # a second attempt (its STARTED), with no second SUCCESS and its result (inserted 0) not written over the first.
    second = stack.api.get(f"/tarefa/{task_id}").json()
    assert second["state"] == "SUCCESS" and second["attempts"] == 2, second
    assert [e["state"] for e in second["events"]].count("SUCCESS") == 1, second["events"]
    assert second["result"] == first["result"], second
    assert _rows(stack, ids) == stored
