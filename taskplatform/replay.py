"""What replaying a dead letter means: the task that applies it, with its arguments."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from taskplatform.dead_letters import BASE64_PREFIX
from taskplatform.devices import parse_reading
from taskplatform.models import DeadLetter
from taskplatform.raw_messages import InvalidMessage
from taskplatform.raw_queues import RASP_DATA, RAW_SESSIONS
from taskplatform.sessions import parse_session


@dataclass(frozen=True)
class Replay:
    task_name: str
    args: list[Any]
    kwargs: dict[str, Any]


def replay_for(letter: DeadLetter, body: Any | None = None) -> Replay:
    """The task that applies `letter`, or applies `body` instead (a corrected message).

    Raw messages are validated first (InvalidMessage when still invalid) and become the
    domain's own task, so a replay is tracked in the ledger and works on either broker.
    """
    raw: Any = letter.body if body is None else body
    if isinstance(raw, str) and raw.startswith(BASE64_PREFIX):
        raise InvalidMessage("invalid_json", "the stored body is not text; replay it with a corrected body")
    if letter.queue == RASP_DATA.name:
        reading = parse_reading(raw if isinstance(raw, str | dict) else json.dumps(raw))
        return Replay("devices.upsert", [], {"reading": reading.model_dump(exclude_unset=True)})
    if letter.queue == RAW_SESSIONS.name:
        parsed = parse_session(raw if isinstance(raw, str | dict) else json.dumps(raw))
        return Replay("sessions.persist", [], {"session": json.loads(parsed.body)})
    if letter.task_name:
        document = json.loads(raw) if isinstance(raw, str) else raw
        if isinstance(document, list) and len(document) == 3:  # Celery's message body: [args, kwargs, embed]
            return Replay(letter.task_name, list(document[0]), dict(document[1]))
        if isinstance(document, dict) and {"args", "kwargs"} <= set(document):
            return Replay(letter.task_name, list(document["args"]), dict(document["kwargs"]))
        raise InvalidMessage("invalid_message", "a task's body must hold its args and kwargs")
    raise InvalidMessage("not_replayable", f"no task applies messages of queue {letter.queue!r}")
