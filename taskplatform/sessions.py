"""UX sessions: the seed's message format and where each session is stored."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from storage.keys import session_key
from taskplatform.raw_messages import InvalidMessage, json_object


@dataclass(frozen=True)
class SessionMessage:
    user_id: str
    session_uuid: str
    key: str
    body: bytes


def _identifier(document: dict[str, Any], field: str) -> str:
    value = document.get(field)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value:
        raise InvalidMessage("invalid_message", f"{field} is required (a non-empty string)")
    return value


def parse_session(body: bytes | str | dict[str, Any]) -> SessionMessage:
    """Validate a session; the stored object is the body exactly as it was received."""
    if isinstance(body, dict):
        raw = json.dumps(body, ensure_ascii=False).encode()
    else:
        raw = body.encode() if isinstance(body, str) else body
    document = json_object(body if isinstance(body, dict) else raw, what="a session")
    user_id, session_uuid = _identifier(document, "user_id"), _identifier(document, "session_uuid")
    try:
        key = session_key(user_id, session_uuid)
    except ValueError as exc:
        raise InvalidMessage("invalid_key", str(exc)) from None
    return SessionMessage(user_id, session_uuid, key, raw)
