"""Idempotency-Key: scoped per credential, bound to the request's body and query, one task under concurrency."""

from __future__ import annotations

import csv
import io
import threading
import uuid

import httpx
from sqlalchemy import text

from ml.housing import synthetic_housing
from tests.integration.helpers import new_student_ids
from tests.integration.stack import Stack

ALICE, BOB = "alice-" + "a" * 40, "bob-" + "b" * 40


def _records_with_key(stack: Stack, key: str) -> list[tuple[str, str | None, str | None]]:
    with stack.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(
            text("SELECT id, idempotency_scope, request_hash FROM task_records WHERE idempotency_key = :k"),
            {"k": key})]


def test_same_key_and_body_returns_the_first_task(stack: Stack) -> None:
    """Breach caught: a client's retry (same key, same body) creating a second task."""
    ids = new_student_ids(stack.api, 1)
    key = f"retry-{uuid.uuid4()}"
    first = stack.api.post("/checkin/batch", json=[{"aluno_id": ids[0]}], headers={"Idempotency-Key": key})
    second = stack.api.post("/checkin/batch", json=[{"aluno_id": ids[0]}], headers={"Idempotency-Key": key})
    assert (first.status_code, second.status_code) == (202, 202)
    assert second.json()["task_id"] == first.json()["task_id"]
    [(task_id, scope, digest)] = _records_with_key(stack, key)
    assert task_id == first.json()["task_id"] and scope == "anonymous" and digest and len(digest) == 64


def test_same_key_with_another_body_or_query_is_a_422_and_enqueues_nothing(stack: Stack) -> None:
    """Breach caught: the same key with another body (or another `?data=`) silently answering with the first
    task and its result, as the IETF Idempotency-Key draft forbids."""
    ids = new_student_ids(stack.api, 2)
    key = f"reuse-{uuid.uuid4()}"
    first = stack.api.post("/checkin/batch", json=[{"aluno_id": ids[0]}], headers={"Idempotency-Key": key})
    assert first.status_code == 202
    other = stack.api.post("/checkin/batch", json=[{"aluno_id": ids[1]}], headers={"Idempotency-Key": key})
    assert other.status_code == 422, other.text
    [problem] = other.json()["detail"]
    assert problem["loc"] == ["header", "Idempotency-Key"]
    assert "reused with a different request body" in problem["msg"]
    assert [row[0] for row in _records_with_key(stack, key)] == [first.json()["task_id"]]

    report_key = f"report-{uuid.uuid4()}"
    day = stack.api.post("/relatorio/diario?data=2026-01-05", headers={"Idempotency-Key": report_key})
    assert day.status_code == 202
    other_day = stack.api.post("/relatorio/diario?data=2026-01-06", headers={"Idempotency-Key": report_key})
    assert other_day.status_code == 422 and other_day.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]
    assert len(_records_with_key(stack, report_key)) == 1


def test_concurrent_requests_with_one_key_make_one_task(stack: Stack) -> None:
    """Breach caught: 20 simultaneous retries of one request (one key) creating more than one task,
    or some of them answering with another task id or an error."""
    ids = new_student_ids(stack.api, 1)
    key = f"burst-{uuid.uuid4()}"
    start = threading.Barrier(20)
    answers: list[httpx.Response] = []
    lock = threading.Lock()

    def post() -> None:
        with httpx.Client(base_url=stack.api_url, timeout=60) as client:
            start.wait()
            answer = client.post("/checkin/batch", json=[{"aluno_id": ids[0], "data_hora": "2026-01-05T10:00:00Z"}],
                                 headers={"Idempotency-Key": key})
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=post) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [a.status_code for a in answers] == [202] * 20, [a.text for a in answers if a.status_code != 202]
    assert len({a.json()["task_id"] for a in answers}) == 1
    assert [row[0] for row in _records_with_key(stack, key)] == [answers[0].json()["task_id"]]
    assert stack.wait_task(answers[0].json()["task_id"])["state"] == "SUCCESS"


def test_a_multipart_upload_sent_again_with_another_boundary_is_the_same_request(stack: Stack) -> None:
    """Breach caught: a retried CSV upload (clients pick a new random multipart boundary each time) refused as
    another request, or another CSV under the same key taken for the first one."""
    def upload(rows: list[dict[str, object]]) -> httpx.Response:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        return stack.api.post("/treinar", params={"assincrono": "true"}, headers={"Idempotency-Key": key},
                              files={"arquivo": ("imoveis.csv", buffer.getvalue().encode(), "text/csv")})

    key = f"upload-{uuid.uuid4()}"
    rows = synthetic_housing(300, seed=11)
    first, again = upload(rows), upload(rows)
    assert first.request.headers["content-type"] != again.request.headers["content-type"]  # other boundary
    assert (first.status_code, again.status_code) == (202, 202), again.text
    assert again.json()["task_id"] == first.json()["task_id"]
    other = upload(synthetic_housing(300, seed=12))
    assert other.status_code == 422 and other.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]
    assert len(_records_with_key(stack, key)) == 1
    stack.wait_task(first.json()["task_id"], timeout=120)


def test_the_same_key_from_two_credentials_makes_two_tasks(stack: Stack) -> None:
    """Breach caught: one client reusing another client's key and getting that client's task (and its result)."""
    api = stack.start_api(name="api-two-keys", API_KEYS=f"{ALICE},{BOB}")
    try:
        key = f"shared-{uuid.uuid4()}"
        answers = [api.post("/relatorio/diario?data=2026-01-07", headers={"Idempotency-Key": key, "X-API-Key": who})
                   for who in (ALICE, BOB, ALICE)]
        assert [a.status_code for a in answers] == [202, 202, 202], [a.text for a in answers]
        alice, bob, alice_again = (a.json()["task_id"] for a in answers)
        assert alice != bob and alice_again == alice
        records = _records_with_key(stack, key)
        assert len(records) == 2 and len({scope for _, scope, _ in records}) == 2
    finally:
        api.close()
        stack.supervisor.stop("api-two-keys")
