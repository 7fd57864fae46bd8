"""Single health checks coalesced at the API (issue 12): each request keeps its own task, recorded in one commit
with the others of its group and carried by one `devices.upsert_members` message; each member is finished in the
carrier's transaction together with its reading."""

from __future__ import annotations

import re
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
import redis

from taskplatform.dev.processes import wait_until
from tests.integration.helpers import devices_with_prefix
from tests.integration.stack import Stack

CARRIER = "devices.upsert_members"


def _readings(n: int) -> tuple[str, list[dict[str, Any]]]:
    prefix = f"coal-{uuid.uuid4().hex[:8]}-"
    return prefix, [{"id": f"{prefix}{i}", "wifi_status": "connected", "cpu_percent": float(i % 100)}
                    for i in range(n)]


def _post_all(stack: Stack, readings: list[dict[str, Any]], threads: int = 50) -> list[httpx.Response]:
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(lambda body: stack.api.post("/devices/health", json=body), readings))


def _accepted(answers: list[httpx.Response]) -> list[str]:
    assert [a.status_code for a in answers] == [202] * len(answers), [a.text[:200] for a in answers
                                                                       if a.status_code != 202][:3]
    for answer in answers:
        body = answer.json()
        assert set(body) == {"task_id", "status_url", "state"} and body["state"] == "QUEUED"
        assert answer.headers["Location"] == body["status_url"] == f"/tarefa/{body['task_id']}"
    return [a.json()["task_id"] for a in answers]


def _carrier(stack: Stack, task_id: str) -> dict[str, Any]:
    """The STARTED event's detail of a member: which carrier finished it, and how many it carried."""
    events = stack.api.get(f"/tarefa/{task_id}").json()["events"]
    [started] = [e for e in events if e["state"] == "STARTED"]
    return dict(started["detail"])


def test_concurrent_single_checks_each_keep_their_task_and_share_carriers(stack: Stack) -> None:
    """Breach caught: a coalesced request answered with another's task id, a member left QUEUED or finished
    without its reading, or no coalescing at all (every request its own carrier)."""
    prefix, readings = _readings(50)
    task_ids = _accepted(_post_all(stack, readings))
    assert len(set(task_ids)) == 50
    records = stack.wait_tasks(task_ids, timeout=90)
    assert [r["state"] for r in records] == ["SUCCESS"] * 50
    for record, reading in zip(records, readings, strict=True):
        assert record["result"]["raspberry_id"] == reading["id"] and record["attempts"] == 1
        events = stack.api.get(f"/tarefa/{record['task_id']}").json()["events"]
        assert [e["state"] for e in events] == ["QUEUED", "STARTED", "SUCCESS"]
    assert devices_with_prefix(stack, prefix) == {r["id"]: r["cpu_percent"] for r in readings}
    carriers = Counter(_carrier(stack, t)["carrier"] for t in task_ids)
    assert max(carriers.values()) >= 2, f"no two requests shared a carrier: {carriers}"
    shared = next(t for t in task_ids if carriers[_carrier(stack, t)["carrier"]] >= 2)
    assert _carrier(stack, shared)["coalesced"] >= carriers[_carrier(stack, shared)["carrier"]]


def test_a_member_cancelled_before_its_carrier_runs_stays_cancelled_and_its_reading_is_not_applied(
        stack: Stack) -> None:
    prefix, readings = _readings(10)
    stack.stop_worker()
    try:
        task_ids = _accepted(_post_all(stack, readings, threads=10))
        cancel = stack.api.post(f"/tarefa/{task_ids[3]}/cancelar")
        assert cancel.status_code == 202 and cancel.json()["state"] == "CANCELED", cancel.text
    finally:
        stack.start_worker()
    live = task_ids[:3] + task_ids[4:]
    records = stack.wait_tasks(live, timeout=90)
    assert [r["state"] for r in records] == ["SUCCESS"] * 9
    cancelled = stack.api.get(f"/tarefa/{task_ids[3]}").json()
    assert cancelled["state"] == "CANCELED" and cancelled["result"] is None
    assert [e["state"] for e in cancelled["events"]] == ["QUEUED", "CANCELED"]
    stored = devices_with_prefix(stack, prefix)
    assert set(stored) == {r["id"] for i, r in enumerate(readings) if i != 3}
    assert stack.api.get(f"/devices/{readings[3]['id']}").status_code == 404


@pytest.mark.slow
def test_sigkill_while_carriers_are_in_flight_loses_no_member(stack: Stack) -> None:
    """Breach caught: a carrier acknowledged before its commit, or lost with the killed worker: its members would
    stay QUEUED (or SUCCESS without their reading). A backlog of carriers is made with the worker stopped; the
    worker is killed as soon as it has finished one and holds two it has not finished (one alone could finish in
    the moment before the kill: a carrier takes milliseconds), and its log shows the carriers it had taken and not
    finished."""
    prefix, readings = _readings(1500)
    log = stack.supervisor.log_dir / "worker.log" if stack.supervisor.log_dir else None
    assert log is not None
    offset = log.stat().st_size if log.exists() else 0
    stack.stop_worker()
    started = False
    try:
        task_ids = _accepted(_post_all(stack, readings, threads=20))
        stack.start_worker(wait=False)
        started = True
        def one_finished_two_held() -> bool:
            text = log.read_text(errors="replace")[offset:]
            received = set(re.findall(rf"Task {CARRIER}\[([0-9a-f-]+)\] received", text))
            finished = set(re.findall(rf"task succeeded: {CARRIER} id=([0-9a-f-]+)", text))
            return bool(finished) and len(received - finished) >= 2

        wait_until(one_finished_two_held, timeout=120, interval=0.005,
                   what="a carrier finished and two taken, not finished")
    finally:
        if started:
            stack.kill_worker()
        text = log.read_text(errors="replace")[offset:]
        stack.start_worker()
    received = set(re.findall(rf"Task {CARRIER}\[([0-9a-f-]+)\] received", text))
    finished = set(re.findall(rf"task succeeded: {CARRIER} id=([0-9a-f-]+)", text))
    assert received - finished, "every carrier the worker had taken was finished before the kill"
    records = stack.wait_tasks(task_ids, timeout=240)
    assert Counter(r["state"] for r in records) == Counter({"SUCCESS": len(readings)})
    assert [r["result"]["raspberry_id"] for r in records] == [r["id"] for r in readings]
    assert devices_with_prefix(stack, prefix) == {r["id"]: r["cpu_percent"] for r in readings}


def test_a_refused_carrier_is_a_503_for_every_member_and_leaves_no_record(stack: Stack) -> None:
    """Breach caught: members answered 202 (or left QUEUED in the ledger) although their carrier was refused.
    Redis out of memory refuses every write (as in test_broker_refusal.py)."""
    if stack.broker_kind != "redis":
        pytest.skip("Redis's out-of-memory refusal needs no broker policy; the RabbitMQ refusal is tested elsewhere")
    prefix, readings = _readings(5)
    before = stack.api.get("/tarefas", params={"name": "devices.upsert", "limit": 1}).json()["total"]
    client = redis.Redis.from_url(stack.env["BROKER_URL"])
    previous = client.config_get("maxmemory*")
    stack.stop_worker()
    try:
        client.config_set("maxmemory-policy", "noeviction")
        client.config_set("maxmemory", 1)
        answers = _post_all(stack, readings, threads=5)
    finally:
        client.config_set("maxmemory", previous.get("maxmemory", "0"))
        client.config_set("maxmemory-policy", previous.get("maxmemory-policy", "noeviction"))
        client.close()
        stack.start_worker()
    assert [a.status_code for a in answers] == [503] * 5, [a.text[:200] for a in answers]
    assert all("broker did not accept" in a.json()["detail"] and a.headers["Retry-After"] == "1" for a in answers)
    assert stack.api.get("/tarefas", params={"name": "devices.upsert", "limit": 1}).json()["total"] == before
    assert devices_with_prefix(stack, prefix) == {}
