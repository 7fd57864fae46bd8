"""Bodies from producers outside Celery: decoding, and why one can never be applied."""

from __future__ import annotations

import json
import math
from typing import Any

from taskplatform.core.settings import get_settings


class InvalidMessage(ValueError):
    """A body that can never be applied; `reason` is a short machine-readable word, `loc` the offending field's path
    inside the body (empty: the body as a whole)."""

    def __init__(self, reason: str, detail: str, loc: tuple[str | int, ...] = ()) -> None:
        super().__init__(detail)
        self.reason = reason
        self.loc = loc


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


_NUL = "a NUL character (\\u0000), which PostgreSQL cannot store in text or JSON"


def _first_unstorable(document: Any) -> tuple[tuple[str | int, ...], str, str] | None:
    """Path, reason and message of the first value a JSON column or file cannot hold (iterative: any depth)."""
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), document)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, float):
            if not math.isfinite(value):
                return path, "invalid_json", f"{value} is not a JSON number (JSON numbers are finite)"
        elif isinstance(value, str):
            if "\x00" in value:
                return path, "invalid_text", _NUL
        elif isinstance(value, dict):
            for key in value:
                if "\x00" in str(key):
                    return (*path, str(key)), "invalid_text", "a key with " + _NUL
            stack.extend(((*path, str(k)), v) for k, v in reversed(value.items()))
        elif isinstance(value, list | tuple):
            stack.extend(((*path, i), v) for i, v in reversed(list(enumerate(value))))
    return None


def check_storable(document: Any) -> None:
    """InvalidMessage when a number is NaN or infinite (`invalid_json`: JSON has no such numbers, yet Python's json
    module reads and writes `NaN`, `Infinity` and `1e999`, so a stored copy would not be JSON), or when a string holds
    a NUL character (`invalid_text`: the ledger's and the tables' JSON and text columns refuse it on PostgreSQL)."""
    found = _first_unstorable(document)
    if found is not None:
        path, reason, problem = found
        raise InvalidMessage(reason, f"{'.'.join(map(str, path)) or 'body'}: {problem}", path)


class _FloatReader:
    """`parse_float` for json.loads that notes whether a literal overflowed to infinity (`1e999`)."""

    __slots__ = ("overflowed",)

    def __init__(self) -> None:
        self.overflowed = False

    def __call__(self, literal: str) -> float:
        value = float(literal)
        if value in _INFINITIES:
            self.overflowed = True
        return value


_INFINITIES = (math.inf, -math.inf)
#: How a NUL character can appear in JSON text: json.loads refuses a raw control character inside a string.
_ESCAPED_NUL = ("\\u0000", b"\\u0000")


def json_object(body: bytes | str | dict[str, Any], *, what: str, max_bytes: int | None = None) -> dict[str, Any]:
    """The body as a JSON object a database can store, or InvalidMessage (`invalid_json`, `invalid_text`,
    `invalid_message`, `too_large` when the raw body exceeds `max_bytes`)."""
    if isinstance(body, dict):
        document: Any = body
        suspect = True
    else:
        if max_bytes is not None and len(body) > max_bytes:
            raise InvalidMessage("too_large", f"{what} of {len(body)} bytes exceeds the limit of {max_bytes} bytes")
        floats = _FloatReader()
        try:
            document = json.loads(body, parse_constant=_refuse_constant, parse_float=floats)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise InvalidMessage("invalid_json", f"not JSON: {exc}") from None
        # Walking the decoded document costs more than decoding it (the consumers' hot path): the text says
        # whether it can hold a NUL or an infinite number, and only then is the document walked for the path.
        suspect = floats.overflowed or _ESCAPED_NUL[isinstance(body, bytes)] in body  # type: ignore[operator]
    if not isinstance(document, dict):
        raise InvalidMessage("invalid_message", f"{what} must be a JSON object")
    if suspect:
        check_storable(document)
    return document


def consumes_raw_queue(parent: Any, task_queue: str) -> bool:
    """Whether a worker runs a raw-queue consumer: on RabbitMQ, when it serves `task_queue` (or every queue)."""
    consume_from = parent.app.amqp.queues.consume_from or {}
    return get_settings().broker_kind == "amqp" and (not consume_from or task_queue in consume_from)


def json_objects(body: bytes, *, what: str, max_bytes_each: int, max_items: int,
                 limit_name: str) -> tuple[list[dict[str, Any]], bool]:
    """A body that is one JSON object or an array of them: the objects and whether it was an array.

    An array must hold 1 to `max_items` objects (`too_short`/`too_long`, named `limit_name` in the message), each
    storable and at most `max_bytes_each` bytes as compact JSON; an item's InvalidMessage carries its index first in
    `loc`, so a 422 names the item and its field."""
    if body.lstrip()[:1] != b"[":
        return [json_object(body, what=what, max_bytes=max_bytes_each)], False
    try:
        document = json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise InvalidMessage("invalid_json", f"not JSON: {exc}") from None
    if not document:
        raise InvalidMessage("too_short", f"an array of {what}s needs at least 1 item")
    if len(document) > max_items:
        raise InvalidMessage("too_long", f"an array of {what}s takes at most {max_items} items ({limit_name}), "
                                         f"not {len(document)}")
    items: list[dict[str, Any]] = []
    for index, item in enumerate(document):
        try:
            items.append(json_object(item if isinstance(item, dict) else json.dumps(item), what=what))
            size = len(json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode())
            if size > max_bytes_each:
                raise InvalidMessage("too_large", f"{what} of {size} bytes exceeds the limit of {max_bytes_each} "
                                                  "bytes")
        except InvalidMessage as exc:
            raise at_index(exc, index) from None
    return items, True


def at_index(exc: InvalidMessage, index: int) -> InvalidMessage:
    """The item's error as the array's: its index first in `loc` and in the message."""
    return InvalidMessage(exc.reason, f"item {index}: {exc}", (index, *exc.loc))
