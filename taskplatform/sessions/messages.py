"""UX sessions: the seed's message format and where each session is stored."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from storage.keys import session_key
from taskplatform.core.settings import get_settings
from taskplatform.messaging.raw_messages import InvalidMessage, json_object


@dataclass(frozen=True)
class SessionMessage:
    user_id: str
    session_uuid: str
    key: str
    body: bytes


def _identifier(document: dict[str, Any], field: str, max_length: int) -> str:
    value = document.get(field)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value:
        raise InvalidMessage("invalid_message", f"{field} is required (a non-empty string)", (field,))
    if len(value) > max_length:
        # checked here, not by the object store: the upload would fail in the worker, after a 202
        raise InvalidMessage("invalid_key", f"{field} has {len(value)} characters; at most {max_length} "
                                            "(SESSION_ID_MAX_LENGTH)", (field,))
    return value


def parse_session(body: bytes | str | dict[str, Any]) -> SessionMessage:
    """Validate a session; the stored object is the body exactly as it was received."""
    if isinstance(body, dict):
        raw = json.dumps(body, ensure_ascii=False).encode()
    else:
        raw = body.encode() if isinstance(body, str) else body
    settings = get_settings()
    document = json_object(body if isinstance(body, dict) else raw, what="a session",
                           max_bytes=settings.max_body_bytes_sessions)
    user_id = _identifier(document, "user_id", settings.session_id_max_length)
    session_uuid = _identifier(document, "session_uuid", settings.session_id_max_length)
    # one segment at a time, so the error names the field
    for field, segments in (("user_id", (user_id, "x")), ("session_uuid", ("x", session_uuid))):
        try:
            session_key(*segments)
        except ValueError as exc:
            raise InvalidMessage("invalid_key", str(exc), (field,)) from None
    key = session_key(user_id, session_uuid)
    return SessionMessage(user_id, session_uuid, key, raw)
