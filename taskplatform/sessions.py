"""UX sessions: the seed's message format and where each session is stored."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from storage.keys import session_key
from taskplatform.devices import InvalidMessage


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
        document, raw = body, json.dumps(body, ensure_ascii=False).encode()
    else:
        raw = body.encode() if isinstance(body, str) else body
        try:
            document = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidMessage("invalid_json", f"not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise InvalidMessage("invalid_message", "a session must be a JSON object")
    user_id, session_uuid = _identifier(document, "user_id"), _identifier(document, "session_uuid")
    try:
        key = session_key(user_id, session_uuid)
    except ValueError as exc:
        raise InvalidMessage("invalid_key", str(exc)) from None
    return SessionMessage(user_id, session_uuid, key, raw)
