"""Platform endpoints: `/`, `/status`, `/celery-status`, `/metrics` and docs (access: test_access.py)."""

from __future__ import annotations

from tests.integration.helpers import new_student_ids
from tests.integration.stack import Stack


def test_root_and_docs(stack: Stack) -> None:
    root = stack.api.get("/").json()
    assert root["docs"] == "/docs" and "checkins" in root["queues"]
    assert stack.api.get("/docs").status_code == 200
    assert stack.api.get("/redoc").status_code == 200
    paths = stack.api.get("/openapi.json").json()["paths"]
    assert {"/checkin/batch", "/tarefa/{task_id}", "/tarefas", "/status", "/celery-status"} <= set(paths)


def test_status_reports_every_server_without_secrets(stack: Stack) -> None:
    response = stack.api.get("/status")
    body = response.json()
    assert response.status_code == 200, body
    for part in ("broker", "database", "object_store", "workers"):
        assert body[part]["ok"] is True, (part, body[part])
    assert stack.worker_name in body["workers"]["workers"]
    text = response.text
    assert stack.env["S3_SECRET_KEY"] not in text
    if "guest:guest" in stack.env["BROKER_URL"]:
        assert "guest:guest" not in text


def test_celery_status_lists_the_worker_its_queues_and_tasks(stack: Stack) -> None:
    workers = stack.api.get("/celery-status").json()["workers"]
    worker = workers[stack.worker_name]
    assert set(worker["queues"]) >= {"checkins", "reports", "training", "predictions", "textgen", "sessions",
                                     "devices"}
    assert "checkins.ingest_batch" in worker["registered_tasks"]
    assert worker["active"] >= 0 and worker["reserved"] >= 0 and worker["concurrency"] == 2


def test_metrics_expose_tasks_durations_and_queue_depth(stack: Stack) -> None:
    ids = new_student_ids(stack.api, 1)
    stack.wait_task(stack.api.post("/checkin/batch", json=[{"aluno_id": ids[0]}]).json()["task_id"])
    text = stack.api.get("/metrics").text
    assert 'taskplatform_tasks{name="checkins.ingest_batch",state="SUCCESS"}' in text
    assert 'taskplatform_task_duration_seconds_count{name="checkins.ingest_batch"}' in text
    assert 'taskplatform_queue_depth{queue="checkins"} 0.0' in text
