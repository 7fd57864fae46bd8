"""The ledger's guarantee under a worker SIGKILL: a task's message is acknowledged only after its final state is
committed, so a worker killed between a task's effect and its record's SUCCESS loses neither."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from taskplatform.dev.processes import wait_until
from taskplatform.devices.models import DeviceStatus
from taskplatform.ledger.records import create_task_record
from tests.integration.fault_tasks import HOLD_AFTER_EFFECT
from tests.integration.stack import Stack

pytestmark = pytest.mark.slow

FAULT_TASKS = ("-I", "tests.integration.fault_tasks")


def _devices(stack: Stack, raspberry_id: str) -> int:
    with Session(stack.engine) as session:
        return int(session.scalar(select(func.count()).select_from(DeviceStatus)
                                  .where(DeviceStatus.raspberry_id == raspberry_id)) or 0)


def test_a_worker_killed_after_a_short_tasks_effect_and_before_its_success_loses_nothing(stack: Stack,
                                                                                         tmp_path: Path) -> None:
    hold = tmp_path / "hold"
    hold.touch()
    raspberry_id = f"pi-kill-{uuid.uuid4().hex[:8]}"
    task_id = str(uuid.uuid4())
    with Session(stack.engine) as session, session.begin():
        assert create_task_record(session=session, task_id=task_id, name=HOLD_AFTER_EFFECT, queue="devices")
    stack.stop_worker()
    try:
        stack.start_worker(queues=("devices",), args=FAULT_TASKS, TEST_HOLD_FILE=str(hold))
        stack.send_raw(HOLD_AFTER_EFFECT, {"reading": {"id": raspberry_id, "cpu_percent": 7.5}}, task_id=task_id,
                       queue="devices")
        wait_until(lambda: _devices(stack, raspberry_id) == 1, timeout=60, interval=0.05, what="the effect")
        # The fault hits work in progress: the effect is committed, the final state is not, the message is held.
        assert stack.api.get(f"/tarefa/{task_id}").json()["state"] == "QUEUED"
        stack.kill_worker()
        assert stack.api.get(f"/tarefa/{task_id}").json()["state"] == "QUEUED"

        hold.unlink()
        stack.start_worker(queues=("devices",), args=FAULT_TASKS, TEST_HOLD_FILE=str(hold))
        record = stack.wait_task(task_id, timeout=120)
    finally:
        stack.stop_worker()
        stack.start_worker()
    # Delivered again and run again (the effect is an upsert: applied once), then recorded once.
    assert record["state"] == "SUCCESS" and record["result"] == {"raspberry_id": raspberry_id}
    assert [e["state"] for e in record["events"]] == ["QUEUED", "STARTED", "SUCCESS"]
    assert _devices(stack, raspberry_id) == 1
    device = stack.api.get(f"/devices/{raspberry_id}").json()
    assert device["cpu_percent"] == 7.5
