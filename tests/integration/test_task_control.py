"""Durable cancel and re-run against a real worker, on each broker: `POST /tarefa/{id}/cancelar`, `/reexecutar`."""

from __future__ import annotations

import os
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from taskplatform.dev.processes import wait_until
from tests.integration.helpers import accepted_task, checkin_batch, checkins_of, new_student_ids, queue_depth
from tests.integration.stack import Stack

pytestmark = pytest.mark.slow


def _checkin(stack: Stack, student: int) -> str:
    return accepted_task(stack.api.post("/checkin/batch", json=[
        {"aluno_id": student, "data_hora": "2026-11-20T09:15:00+00:00"}]))


def _states(record: dict[str, Any]) -> list[str]:
    return [e["state"] for e in record["events"]]


def _skips_logged(stack: Stack, task_id: str) -> int:
    """How often a worker skipped this task because it was cancelled (its log line, from every worker start)."""
    assert stack.supervisor.log_dir is not None
    log = stack.supervisor.log_dir / "worker.log"
    return log.read_text(errors="replace").count(f"id={task_id} (canceled before it started)")


def _restart_full_worker(stack: Stack) -> None:
    """The stack's usual worker again (every queue), whatever ran under its name before."""
    if any(m.name == "worker" for m in stack.supervisor.children):
        stack.stop_worker()
    stack.start_worker()


def test_a_queued_task_canceled_never_starts_and_can_be_rerun(stack: Stack) -> None:
    """Breach caught: a cancel that only marks the ledger while the worker runs the message anyway (no check at
    the start), or a cancelled message left in the queue. The worker is stopped so the task stays queued."""
    [student] = new_student_ids(stack.api, 1)
    stack.stop_worker()
    try:
        task_id = _checkin(stack, student)
        answer = stack.api.post(f"/tarefa/{task_id}/cancelar")
        assert answer.status_code == 202 and answer.json() == {"task_id": task_id, "state": "CANCELED"}
        again = stack.api.post(f"/tarefa/{task_id}/cancelar")
        assert again.status_code == 409 and "CANCELED" in again.json()["detail"]
    finally:
        stack.start_worker()
    # The worker receives the message, skips it and acknowledges it: the queue empties, nothing is stored.
    wait_until(lambda: _skips_logged(stack, task_id) >= 1, timeout=60, what="the worker to skip the cancelled task")
    wait_until(lambda: queue_depth(stack, "checkins") == 0, timeout=30, what="the checkins queue to empty")
    record = stack.api.get(f"/tarefa/{task_id}").json()
    assert record["state"] == "CANCELED" and _states(record) == ["QUEUED", "CANCELED"], record
    assert record["attempts"] == 0 and record["started_at"] is None
    assert record["canceled_by"] == "anonymous" and record["canceled_at"] is not None
    assert record["events"][-1]["detail"] == {"by": "anonymous", "reason": "canceled while QUEUED"}
    assert checkins_of(stack, [student]) == 0

    rerun = stack.api.post(f"/tarefa/{task_id}/reexecutar")
    assert rerun.status_code == 202, rerun.text
    body = rerun.json()
    assert body["reexecucao_de"] == task_id and body["state"] == "QUEUED" and body["task_id"] != task_id
    assert body["status_url"] == f"/tarefa/{body['task_id']}"
    done = stack.wait_task(body["task_id"])
    assert done["state"] == "SUCCESS" and done["reexecucao_de"] == task_id and done["params"] == record["params"]
    assert checkins_of(stack, [student]) == 1
    assert stack.api.get(f"/tarefa/{task_id}").json()["reexecucoes"] == [body["task_id"]]
    assert stack.api.post(f"/tarefa/{body['task_id']}/reexecutar").status_code == 409  # SUCCESS
    assert stack.api.post(f"/tarefa/{body['task_id']}/cancelar").status_code == 409  # final
    for action in ("cancelar", "reexecutar"):
        assert stack.api.post(f"/tarefa/no-such-task/{action}").status_code == 404


def _pool_processes(parent: int) -> list[int]:
    """The worker's pool processes: the children of its main process."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent:
            found.append(int(entry.name))
    return found


def test_a_canceled_task_redelivered_after_a_worker_sigkill_still_never_runs(stack: Stack) -> None:
    """Breach caught: a cancel that holds only for the first delivery (a worker-side flag, a revoke kept in the
    killed worker's memory). A worker of one process, prefetching, is filled: its only pool process is frozen
    (SIGSTOP), so the first message it takes never finishes and the cancelled one waits in the worker,
    delivered and unacknowledged. The worker is SIGKILLed; the broker delivers both again to the next worker,
    which must run the first and skip the cancelled one. The test proves both messages were in the killed
    worker, unfinished, before it kills it."""
    [filler_student, student] = new_student_ids(stack.api, 2)
    stack.stop_worker()
    try:
        stack.start_worker(queues=("checkins",), concurrency=1, args=("--prefetch-multiplier", "4"))
        main = stack.supervisor.get("worker").popen.pid
        wait_until(lambda: len(_pool_processes(main)) == 1, timeout=30, what="the worker's pool process")
        [pool] = _pool_processes(main)
        os.kill(pool, signal.SIGSTOP)
        filler = _checkin(stack, filler_student)
        task_id = _checkin(stack, student)
        assert stack.api.post(f"/tarefa/{task_id}/cancelar").json()["state"] == "CANCELED"

        def held() -> set[str]:
            inspect = stack.producer.control.inspect(destination=[stack.worker_name], timeout=1)
            requests = [*((inspect.active() or {}).get(stack.worker_name, [])),
                        *((inspect.reserved() or {}).get(stack.worker_name, []))]
            return {request["id"] for request in requests}

        wait_until(lambda: {filler, task_id} <= held(), timeout=60, interval=0.2,
                   what="both messages to be held by the filled worker")
        stack.kill_worker()
        assert stack.api.get(f"/tarefa/{filler}").json()["state"] == "QUEUED", "the filler ran before the kill"
        assert _skips_logged(stack, task_id) == 0
    finally:
        _restart_full_worker(stack)
    [done] = stack.wait_tasks([filler], timeout=180)
    assert done["state"] == "SUCCESS" and checkins_of(stack, [filler_student]) == 1
    wait_until(lambda: _skips_logged(stack, task_id) >= 1, timeout=60,
               what="the redelivered cancelled message to be skipped")
    record = stack.api.get(f"/tarefa/{task_id}").json()
    assert record["state"] == "CANCELED" and _states(record) == ["QUEUED", "CANCELED"], record
    assert checkins_of(stack, [student]) == 0


def test_a_failed_task_is_rerun_as_a_new_task_pointing_back(stack: Stack, tmp_path: Path) -> None:
    """A generation that failed (the worker's model folder is missing) is re-run with the same arguments by a
    worker that has its model, as a new task; both pages link the two."""
    params = {"text": "Olá, de novo", "max_new_tokens": 4, "temperature": 0}
    stack.stop_worker()
    try:
        stack.start_worker(queues=("textgen",), TEXTGEN_MODEL=str(tmp_path / "missing-model"))
        failed_id = stack.api.post("/api/predict", json=params).json()["job_id"]
        failed = stack.wait_task(failed_id)
        assert failed["state"] == "FAILURE", failed
    finally:
        _restart_full_worker(stack)
    refused = stack.api.post(f"/tarefa/{failed_id}/cancelar")
    assert refused.status_code == 409 and "FAILURE" in refused.json()["detail"]
    answer = stack.api.post(f"/tarefa/{failed_id}/reexecutar")
    assert answer.status_code == 202 and answer.json()["reexecucao_de"] == failed_id, answer.text
    rerun = stack.wait_task(answer.json()["task_id"], timeout=120)
    assert rerun["state"] == "SUCCESS" and rerun["name"] == "textgen.generate" and rerun["reexecucao_de"] == failed_id
    assert rerun["result"]["content"].strip() and rerun["params"] == failed["params"]
    assert stack.api.get(f"/tarefa/{failed_id}").json()["reexecucoes"] == [answer.json()["task_id"]]


def test_a_running_task_that_cannot_stop_midway_says_why(stack: Stack) -> None:
    """A check-in batch is one statement: while it runs, a cancel is a 409 with the reason, not a CANCELING
    that would never end."""
    ids = new_student_ids(stack.api, 2_000)
    task_id = accepted_task(stack.api.post("/checkin/batch", json=checkin_batch(ids, per_student=5)))
    wait_until(lambda: stack.api.get(f"/tarefa/{task_id}").json()["state"] in {"STARTED", "SUCCESS"}, timeout=60,
               interval=0.01, what="the ingest to start")
    answer = stack.api.post(f"/tarefa/{task_id}/cancelar")
    assert answer.status_code == 409
    assert "cannot stop midway" in answer.json()["detail"] or "SUCCESS" in answer.json()["detail"]
    assert stack.wait_task(task_id)["state"] == "SUCCESS"


def test_eight_generations_posted_at_once_and_the_last_canceled_at_once(stack: Stack) -> None:
    """The acceptance check: the cancelled one ends CANCELED without a STARTED transition; the other seven
    succeed."""
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda n: stack.api.post("/api/predict", json={"text": f"Pedido número {n}"}),
                                range(8)))
    jobs = [answer.json()["job_id"] for answer in answers]
    canceled = stack.api.post(f"/tarefa/{jobs[-1]}/cancelar")
    assert canceled.status_code == 202 and canceled.json()["state"] == "CANCELED", canceled.text
    records = stack.wait_tasks(jobs, timeout=180)
    assert [r["state"] for r in records] == ["SUCCESS"] * 7 + ["CANCELED"], [r["state"] for r in records]
    assert "STARTED" not in _states(records[-1]) and _states(records[-1]) == ["QUEUED", "CANCELED"]
    assert stack.api.get(f"/api/result/{jobs[-1]}").json() == {"status": "CANCELED"}
