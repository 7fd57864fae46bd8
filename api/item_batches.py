"""Routes that take one object or an array of them as one task (`POST /devices/health`, `POST /sessions`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from api.body_limit import too_large
from taskplatform.messaging.raw_messages import InvalidMessage, at_index, json_objects

T = TypeVar("T")


def one_or_many(raw: bytes, *, what: str, item_bytes: int, max_items: int,
                limit_name: str) -> tuple[list[dict[str, Any]], bool]:
    """The body's objects and whether it was an array. A single object over `item_bytes` is a 413, as before arrays
    were taken (the path's limit, api/body_limit.py, is now the array's); an array's items are each bounded by
    `item_bytes` instead (a 422 naming the item)."""
    if raw.lstrip()[:1] != b"[" and len(raw) > item_bytes:
        raise too_large(item_bytes)
    return json_objects(raw, what=what, max_bytes_each=item_bytes, max_items=max_items, limit_name=limit_name)


def each_valid(items: list[dict[str, Any]], parse: Callable[[dict[str, Any]], T], *, array: bool) -> list[T]:
    """Every item parsed, before anything is enqueued; the first invalid one is an InvalidMessage (a 422) whose
    `loc` starts with its index when the body was an array."""
    parsed: list[T] = []
    for index, item in enumerate(items):
        try:
            parsed.append(parse(item))
        except InvalidMessage as exc:
            raise at_index(exc, index) if array else exc from None
    return parsed


def array_schema(item: dict[str, Any], max_items: int, example: Any) -> dict[str, Any]:
    """The body schema of such a route: the object, or an array of 1 to `max_items` of them."""
    return {"oneOf": [item, {"type": "array", "items": item, "minItems": 1, "maxItems": max_items,
                             "example": [example]}]}
