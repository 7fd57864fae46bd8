"""What replaying a dead letter means: the task that applies it, with its arguments."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from taskplatform.dead_letters.models import DeadLetter
from taskplatform.dead_letters.store import BASE64_PREFIX
from taskplatform.messaging import raw_queues
from taskplatform.messaging.raw_messages import InvalidMessage, check_storable

TASK_BODY_SHAPE = 'a task\'s body must be {"args": [...], "kwargs": {...}} (or Celery\'s [args, kwargs, embed])'


@dataclass(frozen=True)
class Replay:
    task_name: str
    args: list[Any]
    kwargs: dict[str, Any]


def replay_for(letter: DeadLetter, body: Any | None = None) -> Replay:
    """The task that applies `letter`, or applies `body` instead (a corrected message).

    Raw messages are validated first and become the domain's own task, so a replay is
    tracked in the ledger and works on either broker. Whatever cannot become a task (not
    JSON, not a valid message, arguments of the wrong shape, no task for its queue) raises
    InvalidMessage, before anything is enqueued or marked.
    """
    raw: Any = letter.body if body is None else body
    if isinstance(raw, str) and raw.startswith(BASE64_PREFIX):
        raise InvalidMessage("invalid_json", "the stored body is not text; replay it with a corrected body")
    raw_queue = raw_queues.find(letter.queue)
    if raw_queue is not None:
        return Replay(raw_queue.task_name, [], raw_queue.task_kwargs(raw))
    if letter.task_name:
        args, kwargs = task_arguments(raw)
        applying = raw_queues.for_task(letter.task_name)
        if applying is not None:
            check_item_arguments(applying, args, kwargs)
        return Replay(letter.task_name, args, kwargs)
    raise InvalidMessage("not_replayable", f"no task applies messages of queue {letter.queue!r}")


def task_arguments(raw: Any) -> tuple[list[Any], dict[str, Any]]:
    """A task message's `args` (a list) and `kwargs` (an object), from its JSON text or value."""
    document = raw
    if isinstance(raw, str):
        try:
            document = json.loads(raw)
        except ValueError as exc:
            raise InvalidMessage("invalid_json", f"not JSON: {exc}") from None
    if isinstance(document, list) and len(document) == 3:  # Celery's message body: [args, kwargs, embed]
        args, kwargs = document[0], document[1]
    elif isinstance(document, dict) and {"args", "kwargs"} <= set(document):
        args, kwargs = document["args"], document["kwargs"]
    else:
        raise InvalidMessage("invalid_message", TASK_BODY_SHAPE)
    if not isinstance(args, list) or not isinstance(kwargs, dict):
        raise InvalidMessage("invalid_message", f"{TASK_BODY_SHAPE}; got args of type {type(args).__name__} "
                                                f"and kwargs of type {type(kwargs).__name__}")
    check_storable({"args": args, "kwargs": kwargs})  # the ledger keeps a copy (Redis): NaN or NUL would break it
    return args, kwargs


def check_item_arguments(raw_queue: raw_queues.RawQueue, args: list[Any], kwargs: dict[str, Any]) -> None:
    """The arguments of a task that applies a raw queue's messages, checked as its messages are (raises
    InvalidMessage naming the item and field): one message, or an array of them, and nothing else. So a corrected
    body the task would refuse is a 422 at the API, not a task that fails in the worker."""
    names = [name for name in (raw_queue.item_argument, raw_queue.items_argument) if name]
    if not names:
        return
    shape = f"{raw_queue.task_name} takes one keyword argument, {' or '.join(repr(n) for n in names)}"
    if args or len(kwargs) != 1 or next(iter(kwargs)) not in names:
        raise InvalidMessage("invalid_message", f"kwargs: {shape}; got {len(args)} positional and {sorted(kwargs)}",
                             ("kwargs",))
    [(name, value)] = kwargs.items()
    single = name == raw_queue.item_argument
    items = [value] if single else value
    if not isinstance(items, list) or not items:
        raise InvalidMessage("invalid_message", f"kwargs.{name}: a non-empty array of messages", ("kwargs", name))
    for index, item in enumerate(items):
        try:
            raw_queue.task_kwargs(item)
        except InvalidMessage as exc:
            where: tuple[str | int, ...] = ("kwargs", name) if single else ("kwargs", name, index)
            raise InvalidMessage(exc.reason, f"{'.'.join(map(str, where))}: {exc}", (*where, *exc.loc)) from None
