"""Bodies from producers outside Celery: decoding, and why one can never be applied."""

from __future__ import annotations

import json
from typing import Any

from taskplatform.settings import get_settings


class InvalidMessage(ValueError):
    """A body that can never be applied; `reason` is a short machine-readable word."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def json_object(body: bytes | str | dict[str, Any], *, what: str) -> dict[str, Any]:
    """The body as a JSON object, or InvalidMessage (`invalid_json`, `invalid_message`)."""
    if isinstance(body, dict):
        return body
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidMessage("invalid_json", f"not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise InvalidMessage("invalid_message", f"{what} must be a JSON object")
    return document


def consumes_raw_queue(parent: Any, task_queue: str) -> bool:
    """Whether a worker runs a raw-queue consumer: on RabbitMQ, when it serves `task_queue` (or every queue)."""
    consume_from = parent.app.amqp.queues.consume_from or {}
    return get_settings().broker_kind == "amqp" and (not consume_from or task_queue in consume_from)
