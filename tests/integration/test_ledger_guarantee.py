"""The ledger's guarantee under a worker SIGKILL: a task's message is acknowledged only after its final state is
committed, so a worker killed between a task's effect and its record's SUCCESS loses neither."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import func, make_url, select
from sqlalchemy.orm import Session

from taskplatform.dev.processes import wait_until
from taskplatform.devices.models import DeviceStatus
from taskplatform.ledger.records import create_task_record
from tests.integration.fault_tasks import HOLD_AFTER_EFFECT, HOLD_AFTER_EFFECT_LONG
from tests.integration.stack import Stack
from tests.integration.tcp_proxy import TcpProxy

pytestmark = pytest.mark.slow

FAULT_TASKS = ("-I", "tests.integration.fault_tasks")


def _devices(stack: Stack, raspberry_id: str) -> int:
    with Session(stack.engine) as session:
        return int(session.scalar(select(func.count()).select_from(DeviceStatus)
                                  .where(DeviceStatus.raspberry_id == raspberry_id)) or 0)


def _held_task(stack: Stack, tmp_path: Path, name: str, prefix: str) -> tuple[Path, str, str]:
    """The hold file (present: the task holds after its effect), a fresh device id and the id of the task's QUEUED
    record, written as the API writes it."""
    hold = tmp_path / "hold"
    hold.touch()
    task_id = str(uuid.uuid4())
    with Session(stack.engine) as session, session.begin():
        assert create_task_record(session=session, task_id=task_id, name=name, queue="devices")
    return hold, f"{prefix}-{uuid.uuid4().hex[:8]}", task_id


def test_a_worker_killed_after_a_short_tasks_effect_and_before_its_success_loses_nothing(stack: Stack,
                                                                                         tmp_path: Path) -> None:
    hold, raspberry_id, task_id = _held_task(stack, tmp_path, HOLD_AFTER_EFFECT, "pi-kill")
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


@contextmanager
def _effect_committed_then_link_cut(stack: Stack, tmp_path: Path, name: str,
                                    prefix: str) -> Iterator[tuple[TcpProxy, Path, str, str]]:
    """A worker that reaches PostgreSQL through a link, running task `name` until its effect is committed; then the
    link is cut and the task let go, so its final write meets the outage: the fault hits work in progress. Yields
    (link, hold file, device id, task id); the stack's own worker is back on exit."""
    if stack.engine.dialect.name != "postgresql":
        pytest.skip("the outage is a TCP link cut between the worker and PostgreSQL; SQLite has no link")
    hold, raspberry_id, task_id = _held_task(stack, tmp_path, name, prefix)
    database = make_url(stack.env["DATABASE_URL"])
    with TcpProxy(database.host or "127.0.0.1", database.port or 5432) as link:
        through_link = database.set(host="127.0.0.1", port=link.port).render_as_string(hide_password=False)
        stack.stop_worker()
        try:
            stack.start_worker(queues=("devices",), args=FAULT_TASKS, TEST_HOLD_FILE=str(hold),
                               DATABASE_URL=through_link)
            stack.send_raw(name, {"reading": {"id": raspberry_id, "cpu_percent": 3.5}}, task_id=task_id,
                           queue="devices")
            wait_until(lambda: _devices(stack, raspberry_id) == 1, timeout=60, interval=0.05, what="the effect")
            link.cut()
            hold.unlink()
            yield link, hold, raspberry_id, task_id
        finally:
            stack.stop_worker()
            stack.start_worker()


def _logged(stack: Stack, text: str, what: str) -> None:
    log = stack.supervisor.log_dir / "worker.log"  # type: ignore[operator]
    wait_until(lambda: text in log.read_text(errors="replace"), timeout=60, what=what)


@pytest.mark.parametrize("name", [HOLD_AFTER_EFFECT, HOLD_AFTER_EFFECT_LONG], ids=["short", "long"])
def test_a_success_that_meets_a_database_outage_is_retried_until_written(stack: Stack, tmp_path: Path,
                                                                          name: str) -> None:
    """Breach caught: a task whose effect is committed and whose SUCCESS write meets an unreachable database being
    acknowledged anyway (Celery only logs an error raised in `on_success`), its record left QUEUED or STARTED for
    good, or failed instead of retried."""
    with _effect_committed_then_link_cut(stack, tmp_path, name, "pi-outage") as (link, _, raspberry_id, task_id):
        # The long path's pool process writes its SUCCESS and retries the task; the short path's row is written by
        # the worker's main process (taskplatform/ledger/final_states.py), which retries the write and holds the
        # acknowledgement.
        _logged(stack, f"id={task_id} ran, but its SUCCESS could not be written" if name == HOLD_AFTER_EFFECT_LONG
                else "tasks' SUCCESS; retrying in", what="the SUCCESS write to meet the outage")
        assert stack.api.get(f"/tarefa/{task_id}").json()["state"] in {"QUEUED", "STARTED"}
        link.restore()
        record = stack.wait_task(task_id, timeout=120)
    assert record["state"] == "SUCCESS" and record["result"] == {"raspberry_id": raspberry_id}, record
    # The long path counts the retried attempt's STARTED; on the short path the task ran once and its row waited
    # for the database, which the log line waited for above shows.
    assert record["attempts"] >= (2 if name == HOLD_AFTER_EFFECT_LONG else 1) and _devices(stack, raspberry_id) == 1
    assert [e["state"] for e in record["events"]].count("SUCCESS") == 1


def test_a_worker_killed_while_its_main_process_holds_unwritten_rows_loses_nothing(stack: Stack,
                                                                                    tmp_path: Path) -> None:
    """A short task's row waits in the worker's main process (final_states.py) while the database is unreachable;
    the worker is killed then. Its message was never acknowledged: delivered again, the task runs again and its
    SUCCESS is written once. Acknowledged early, the record would stay QUEUED for good."""
    with _effect_committed_then_link_cut(stack, tmp_path, HOLD_AFTER_EFFECT,
                                         "pi-held-row") as (link, hold, raspberry_id, task_id):
        _logged(stack, "tasks' SUCCESS; retrying in", what="the main process to hold the row it cannot write")
        stack.kill_worker()  # the row dies with the main process; the message is still unacknowledged
        link.restore()
        assert stack.api.get(f"/tarefa/{task_id}").json()["state"] == "QUEUED"
        stack.start_worker(queues=("devices",), args=FAULT_TASKS, TEST_HOLD_FILE=str(hold))
        record = stack.wait_task(task_id, timeout=120)
    assert record["state"] == "SUCCESS" and record["result"] == {"raspberry_id": raspberry_id}, record
    assert [e["state"] for e in record["events"]] == ["QUEUED", "STARTED", "SUCCESS"]
    assert _devices(stack, raspberry_id) == 1
