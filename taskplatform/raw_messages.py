"""Bodies from producers outside Celery: decoding, and why one can never be applied."""

from __future__ import annotations

import json
import math
from typing import Any

from taskplatform.settings import get_settings


class InvalidMessage(ValueError):
    """A body that can never be applied; `reason` is a short machine-readable word, `loc` the offending field's path
    inside the body (empty: the body as a whole)."""

    def __init__(self, reason: str, detail: str, loc: tuple[str | int, ...] = ()) -> None:
        super().__init__(detail)
        self.reason = reason
        self.loc = loc


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _first_non_finite(document: Any) -> tuple[tuple[str | int, ...], float] | None:
    """Path and value of the first NaN or infinity in a decoded document (iterative: any depth)."""
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), document)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, float):
            if not math.isfinite(value):
                return path, value
        elif isinstance(value, dict):
            stack.extend(((*path, str(k)), v) for k, v in reversed(value.items()))
        elif isinstance(value, list | tuple):
            stack.extend(((*path, i), v) for i, v in reversed(list(enumerate(value))))
    return None


def check_finite(document: Any) -> None:
    """InvalidMessage (`invalid_json`) when a number is NaN or infinite: JSON has no such numbers, and Python's json
    module reads and writes them anyway (`NaN`, `Infinity`, `1e999`), so a stored copy would not be JSON."""
    found = _first_non_finite(document)
    if found is not None:
        path, value = found
        where = ".".join(map(str, path)) or "body"
        raise InvalidMessage("invalid_json", f"{where}: {value} is not a JSON number (JSON numbers are finite)", path)


def json_object(body: bytes | str | dict[str, Any], *, what: str, max_bytes: int | None = None) -> dict[str, Any]:
    """The body as a JSON object of finite numbers, or InvalidMessage (`invalid_json`, `invalid_message`,
    `too_large` when the raw body exceeds `max_bytes`)."""
    if isinstance(body, dict):
        document: Any = body
    else:
        if max_bytes is not None and len(body) > max_bytes:
            raise InvalidMessage("too_large", f"{what} of {len(body)} bytes exceeds the limit of {max_bytes} bytes")
        try:
            document = json.loads(body, parse_constant=_refuse_constant)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise InvalidMessage("invalid_json", f"not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise InvalidMessage("invalid_message", f"{what} must be a JSON object")
    check_finite(document)
    return document


def consumes_raw_queue(parent: Any, task_queue: str) -> bool:
    """Whether a worker runs a raw-queue consumer: on RabbitMQ, when it serves `task_queue` (or every queue)."""
    consume_from = parent.app.amqp.queues.consume_from or {}
    return get_settings().broker_kind == "amqp" and (not consume_from or task_queue in consume_from)
