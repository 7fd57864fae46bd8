"""The opaque cursor of a keyset-paged listing: a row's (created_at, id), the position a page ends at.

Opaque (base64url) so clients pass it back as given rather than building one; readable once decoded, because it
carries nothing secret: a forged cursor only names another position in a listing the caller may read anyway.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

#: Separates the instant from the id: an ISO instant never holds it, an id might (so split on the first one).
SEP = "|"
#: Longest cursor accepted: an instant (32) + SEP + an id of at most 64 characters, base64-encoded, with margin.
MAX_LENGTH = 200
MAX_ID = 64

Key = tuple[datetime, str]


class BadCursor(ValueError):
    """The text is not a cursor this API handed out."""


def encode_cursor(key: Key) -> str:
    created_at, row_id = key
    raw = f"{created_at.isoformat()}{SEP}{row_id}".encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(text: str) -> Key:
    """The (created_at, id) `encode_cursor` wrote; `BadCursor` for anything else."""
    if not text or len(text) > MAX_LENGTH:
        raise BadCursor("empty or too long")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadCursor("not base64url text") from None
    instant, sep, row_id = raw.partition(SEP)
    if not sep or not row_id or len(row_id) > MAX_ID or "\x00" in row_id:
        raise BadCursor("no row id")
    try:
        created_at = datetime.fromisoformat(instant)
    except ValueError:
        raise BadCursor("no instant") from None
    if created_at.tzinfo is None:
        raise BadCursor("an instant without its offset")
    return created_at, row_id
