"""A device message the parser accepts but the database refuses must not stop device ingestion."""

from __future__ import annotations

import json
import uuid

from kombu import Connection
from sqlalchemy import text

from taskplatform.dev.embedded import free_port
from taskplatform.dev.processes import wait_until
from taskplatform.devices.store import parse_reading
from tests.integration.helpers import devices_with_prefix
from tests.integration.producers import publish_rasp_data, require_amqp
from tests.integration.stack import Stack

#: The parser refuses everything it knows the database would (ranges, NUL characters, non-finite numbers), so
#: the test gives the database a rule of its own that the parser cannot know: a CHECK constraint, as an operator
#: might add, refusing one reading. PostgreSQL answers SQLSTATE 23514 (check_violation), a permanent refusal.
POISON_CHECK = "tp_test_poison_device"


def _rasp_data_depth(stack: Stack) -> int:
    with Connection(stack.env["BROKER_URL"]) as connection:
        return int(connection.default_channel.queue_declare("rasp_data", passive=True).message_count)


def test_a_poison_message_among_50_good_ones_is_dead_lettered_and_the_50_are_applied(stack: Stack) -> None:
    """Catches one message the database refuses holding back its whole batch forever (`rasp_data` has no
    delivery limit, and the consumer used to retry the whole batch every 30 s): the 50 good messages are
    applied within 30 s and the poison one is a dead letter with the database's reason."""
    require_amqp(stack)
    prefix = f"poison-{uuid.uuid4().hex[:6]}"
    good = [{"id": f"{prefix}-{n}", "wifi_status": "connected", "cpu_percent": float(n)} for n in range(50)]
    poison = {"id": f"{prefix}-poison", "wifi_status": "connected"}
    parse_reading(json.dumps(poison))  # the parser accepts it: what stops it is the database
    with stack.engine.begin() as connection:
        connection.execute(text(f"ALTER TABLE device_status ADD CONSTRAINT {POISON_CHECK} "
                                f"CHECK (raspberry_id NOT LIKE '%-poison')"))
    log = stack.supervisor.log_dir / "worker.log"  # type: ignore[operator]
    stack.stop_worker()
    try:
        publish_rasp_data(stack, [*good[:25], poison, *good[25:]])
        assert _rasp_data_depth(stack) == 51  # all waiting when the consumer starts: one batch
        # A flush interval longer than it takes the broker to deliver 51 messages: the first batch holds them all.
        stack.start_worker(RAW_FLUSH_INTERVAL="2")

        def applied() -> bool:
            # Read by prefix: the stack's other tests leave more devices than one page of /devices holds.
            seen = devices_with_prefix(stack, prefix)
            return all(seen.get(g["id"]) == g["cpu_percent"] for g in good)

        wait_until(applied, timeout=30, interval=0.5, what="the 50 good device messages")

        def letter() -> dict | None:
            items = stack.api.get("/dead-letters", params={"queue": "rasp_data", "limit": 1000}).json()["items"]
            return next((i for i in items if poison["id"] in i["body"]), None)

        wait_until(lambda: letter() is not None, timeout=30, what="the poison message's dead letter")
        found = letter()
        assert found is not None and found["reason"] == "rejected_by_database"
        assert POISON_CHECK in found["error"], found["error"]
        assert json.loads(found["body"]) == poison
        assert stack.api.get(f"/devices/{poison['id']}").status_code == 404
        assert "device batch of 51 refused by the database; 1 of its messages" in log.read_text(errors="replace")
        stack.stop_worker()
        assert _rasp_data_depth(stack) == 0  # every message acknowledged: none comes back
    finally:
        with stack.engine.begin() as connection:
            connection.execute(text(f"ALTER TABLE device_status DROP CONSTRAINT IF EXISTS {POISON_CHECK}"))
        if any(child.name == "worker" for child in stack.supervisor.children):
            stack.stop_worker()
        stack.start_worker()


def test_device_messages_are_held_not_dead_lettered_while_the_database_is_unreachable(stack: Stack) -> None:
    """Catches a database outage taken for a refusal: messages split and dead-lettered (or dropped) instead of
    held with backoff until the database answers. (The worker is pointed at a port where nothing listens, so
    the shared PostgreSQL server keeps running.)"""
    require_amqp(stack)
    prefix = f"unreachable-{uuid.uuid4().hex[:6]}"
    readings = [{"id": f"{prefix}-{n}", "cpu_percent": float(n)} for n in range(20)]
    log = stack.supervisor.log_dir / "worker.log"  # type: ignore[operator]
    stack.stop_worker()
    try:
        stack.start_worker(DATABASE_URL=f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nowhere")
        start = log.stat().st_size
        publish_rasp_data(stack, readings)
        wait_until(lambda: "not applied; retrying" in log.read_text(errors="replace")[start:], timeout=60,
                   what="the consumer to hold the batch")
        stack.stop_worker()
        assert "refused by the database" not in log.read_text(errors="replace")[start:]
        assert _rasp_data_depth(stack) == len(readings)  # nothing acknowledged, nothing dropped
        stack.start_worker()
        wait_until(lambda: all(stack.api.get(f"/devices/{r['id']}").status_code == 200 for r in readings),
                   timeout=60, interval=0.5, what="every reading once the database answers")
        listed = stack.api.get("/dead-letters", params={"queue": "rasp_data", "limit": 1000}).json()["items"]
        assert not [i for i in listed if prefix in i["body"]]
    finally:
        if not any(child.name == "worker" for child in stack.supervisor.children):
            stack.start_worker()
