"""Device batches are acknowledged with one multiple-ack each: never a message before its own commit."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from taskplatform.dev.processes import wait_until
from tests.integration.helpers import devices_with_prefix, queue_depth
from tests.integration.producers import publish_rasp_data, require_amqp
from tests.integration.stack import Stack


def _upsert_waiting_on_lock(stack: Stack) -> bool:
    with stack.engine.connect() as connection:
        return bool(connection.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' "
            "AND query ILIKE 'INSERT INTO device_status%'")).scalar_one())


def test_a_worker_killed_before_the_commit_leaves_every_message_of_the_batch_in_the_queue(stack: Stack) -> None:
    """Breach caught: a multiple-ack that covers messages not yet committed (a delivery tag of a later batch, or
    of messages still in hand), or acks sent before the commit. A first batch is applied and acknowledged; then
    the table is locked so that the second batch's upsert waits inside its transaction, the worker is SIGKILLed
    there, and every message of the second batch must be back in the queue, none of the first."""
    require_amqp(stack)
    prefix = f"acks-{uuid.uuid4().hex[:6]}"
    first = [{"id": f"{prefix}-a{n}", "cpu_percent": float(n)} for n in range(300)]
    second = [{"id": f"{prefix}-b{n}", "cpu_percent": float(n)} for n in range(300)]
    publish_rasp_data(stack, first)
    wait_until(lambda: len(devices_with_prefix(stack, f"{prefix}-a")) == len(first), timeout=60,
               what="the first batch applied")
    wait_until(lambda: queue_depth(stack, "rasp_data") == 0, timeout=30, what="the first batch acknowledged")
    lock = stack.engine.connect()
    try:
        transaction = lock.begin()
        lock.execute(text("LOCK TABLE device_status IN EXCLUSIVE MODE"))
        try:
            publish_rasp_data(stack, second)
            wait_until(lambda: _upsert_waiting_on_lock(stack), timeout=60, what="the second batch's upsert")
            stack.kill_worker()
        finally:
            transaction.rollback()
    finally:
        lock.close()
    try:
        # The killed worker's channel is gone: whatever it had not acknowledged is ready again.
        wait_until(lambda: queue_depth(stack, "rasp_data") == len(second), timeout=30,
                   what=f"all {len(second)} messages of the uncommitted batch back in the queue")
        assert not devices_with_prefix(stack, f"{prefix}-b")
    finally:
        stack.start_worker()
    wait_until(lambda: devices_with_prefix(stack, prefix) == {**{r["id"]: r["cpu_percent"] for r in first},
                                                              **{r["id"]: r["cpu_percent"] for r in second}},
               timeout=60, interval=0.5, what="both batches applied once the worker is back")
