"""`rasp_data`: the queue the Raspberry Pis publish their health checks to, registered with the platform."""

from __future__ import annotations

import json
from typing import Any

from kombu import Queue

from taskplatform.devices.store import parse_reading
from taskplatform.messaging.raw_queues import RawQueue, register
from taskplatform.messaging.task_names import TaskName


def reading_kwargs(body: Any) -> dict[str, Any]:
    """`devices.upsert`'s arguments for one message (raises InvalidMessage)."""
    reading = parse_reading(body if isinstance(body, str | dict) else json.dumps(body))
    return {"reading": reading.model_dump(exclude_unset=True)}


#: The Raspberry Pi publisher: `queue_declare(queue='rasp_data', durable=True)`.
RASP_DATA = register(RawQueue(queue=Queue("rasp_data", exchange="", routing_key="rasp_data", durable=True),
                              task_name=TaskName.DEVICES_UPSERT.value, task_kwargs=reading_kwargs,
                              item_argument="reading", items_argument="readings"))
