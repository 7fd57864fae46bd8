"""Access control on a real API process: with API_KEYS set, reads need a credential too (issue 9, item 11)."""

from __future__ import annotations

import time

import jwt

from tests.integration.helpers import new_student_ids
from tests.integration.stack import Stack

FULL = {"X-API-Key": "full-key-for-tests-0123456789"}
READ = {"X-API-Key": "read-key-for-tests-0123456789"}
SECRET = "a-shared-secret-of-more-than-32-bytes!"


def bearer(scope: str) -> dict[str, str]:
    token = jwt.encode({"sub": "tests", "scope": scope, "exp": int(time.time()) + 600}, SECRET, algorithm="HS256")
    return {"Authorization": f"Bearer {token}"}


def test_reads_need_a_credential_once_api_keys_are_set(stack: Stack) -> None:
    """Breach caught: item 11, with API_KEYS set anyone could list session keys, churn names, arguments and
    tracebacks (`/tarefas`, `/relatorio/churn`, `/tarefa/{id}`, `/dead-letters`...); a read key could write."""
    guarded = stack.start_api(name="api-access", API_KEYS=FULL["X-API-Key"], API_READ_KEYS=READ["X-API-Key"],
                              JWT_SECRET=SECRET)
    try:
        student = new_student_ids(stack.api, 1)[0]
        body = [{"aluno_id": student}]
        assert guarded.post("/checkin/batch", json=body, headers=READ).status_code == 403
        assert guarded.post("/checkin/batch", json=body, headers=bearer("read")).status_code == 403
        refused = guarded.post("/checkin/batch", json=body)
        assert refused.status_code == 401 and "X-API-Key" in refused.headers["www-authenticate"]
        accepted = guarded.post("/checkin/batch", json=body, headers=FULL)
        assert accepted.status_code == 202, accepted.text
        task_id = accepted.json()["task_id"]
        stack.wait_task(task_id)

        reads = ["/tarefas", "/dead-letters", "/relatorio/churn", "/devices", f"/tarefa/{task_id}",
                 f"/api/result/{task_id}", "/devices/messages", "/metrics"]
        for path in reads:
            anonymous = guarded.get(path)
            assert anonymous.status_code == 401, (path, anonymous.status_code)
            assert anonymous.headers["www-authenticate"].startswith("X-API-Key")
            assert str(student) not in anonymous.text
            assert guarded.get(path, headers={"X-API-Key": "wrong"}).status_code == 401, path
            # With a credential, the answer the API gives when no auth is configured (200, or 404 for a
            # check-in task asked for as a text-generation job).
            expected = stack.api.get(path).status_code
            assert expected in (200, 404), (path, expected)
            for credential in (READ, FULL, bearer("read")):
                assert guarded.get(path, headers=credential).status_code == expected, (path, credential)
        assert guarded.get(f"/tarefa/{task_id}", headers=READ).json()["state"] == "SUCCESS"
    finally:
        stack.supervisor.stop("api-access")


def test_index_status_and_demo_stay_open_and_status_hides_details(stack: Stack) -> None:
    """Breach caught: the health check and demo page locked (load balancers and browsers send no key), or
    `/status` telling anonymous callers about the servers behind the API."""
    guarded = stack.start_api(name="api-open-paths", API_KEYS=FULL["X-API-Key"], API_READ_KEYS=READ["X-API-Key"])
    try:
        assert guarded.get("/").status_code == 200
        assert guarded.get("/demo").status_code == 200
        short = guarded.get("/status")
        assert short.status_code == 200 and short.json() == {"ok": True}
        detailed = guarded.get("/status", headers=READ).json()
        assert detailed["ok"] is True and detailed["broker"]["ok"] is True and "workers" in detailed
    finally:
        stack.supervisor.stop("api-open-paths")
