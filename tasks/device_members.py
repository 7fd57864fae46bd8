"""The carrier of grouped health checks: `POST /devices/health` single checks recorded and published together.

`devices.upsert_members` has no ledger record of its own (`tracked=False`): its members are the records, one per
request (taskplatform/ledger/members.py). In ONE transaction it finishes the live members and applies their
readings, so a member is SUCCESS exactly when its reading is stored; a member cancelled before that is skipped and
its reading not applied. The message is acknowledged after the commit (late ack, app-wide): a worker killed before
it is redelivered, and re-applying is idempotent (upserts; the members' attempts count the deliveries).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from taskplatform.core.db import session_scope, utcnow
from taskplatform.core.errors import describe
from taskplatform.devices.store import DeviceReading, parse_reading
from taskplatform.ledger.members import fail_members, finish_members
from taskplatform.messaging.batches import apply_bisecting
from taskplatform.messaging.celery_app import app
from taskplatform.messaging.queues import queue_for
from taskplatform.messaging.raw_messages import InvalidMessage
from taskplatform.messaging.task_names import TaskName
from tasks.devices import store_readings

logger = logging.getLogger("taskplatform.devices")


@dataclass(frozen=True)
class _Item:
    task_id: str
    reading: DeviceReading
    body: dict[str, Any]


@app.task(name=TaskName.DEVICES_UPSERT_MEMBERS.value, bind=True, tracked=False)
def upsert_members(self: Any, members: list[dict[str, Any]]) -> dict[str, Any]:
    """Apply each member's reading and finish it, in one transaction. A reading the database refuses for good is
    found by splitting the group (`apply_bisecting`): its member fails with the reason, the others are applied. A
    database outage fails the whole transaction and the carrier retries (the members stay QUEUED meanwhile)."""
    started_at, began = utcnow(), time.monotonic()
    detail = {"carrier": self.request.id, "coalesced": len(members), "retries": self.request.retries,
              "hostname": self.request.hostname}
    items: list[_Item] = []
    errors: dict[str, tuple[str, str]] = {}
    for member in members:
        try:
            items.append(_Item(member["task_id"], parse_reading(member["reading"]), member["reading"]))
        except InvalidMessage as exc:  # validated by the API: only a limit lowered since lands here
            errors[member["task_id"]] = (type(exc).__name__, str(exc))
    skipped: list[str] = []
    queue = queue_for(TaskName.DEVICES_UPSERT.value)

    def apply(part: Any) -> None:
        with session_scope() as session:
            live = finish_members(session=session, name=TaskName.DEVICES_UPSERT.value, queue=queue,
                                  results={i.task_id: {"raspberry_id": i.reading.id} for i in part},
                                  started_at=started_at, now=utcnow(), runtime_s=round(time.monotonic() - began, 6),
                                  detail=detail)
            store_readings(session=session, readings=[(i.reading, i.body) for i in part if i.task_id in live])
        skipped.extend(i.task_id for i in part if i.task_id not in live)

    outcome = apply_bisecting(items, apply)
    if outcome.error is not None:
        raise outcome.error  # transient: TrackedTask's autoretry; the parts already committed stay finished
    errors.update({item.task_id: (type(exc).__name__, describe(exc)) for item, exc in outcome.refused})
    if errors:
        logger.warning("%d of %d grouped health checks refused: %s", len(errors), len(members),
                       next(iter(errors.values()))[1])
        with session_scope() as session:
            fail_members(session=session, errors=errors, started_at=started_at, now=utcnow(), detail=detail)
    if skipped:
        logger.info("%d cancelled health checks not applied: %s", len(skipped), ", ".join(skipped[:5]))
    return {"members": len(members), "applied": len(outcome.applied) - len(skipped), "canceled": len(skipped),
            "failed": len(errors)}
