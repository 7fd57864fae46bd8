"""The opaque cursor of `/tarefas`: what `encode_cursor` writes, `decode_cursor` reads back, and nothing else."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest

from taskplatform.core.cursor import MAX_LENGTH, BadCursor, decode_cursor, encode_cursor


@pytest.mark.parametrize("key", [
    (datetime(2026, 12, 1, 10, 0, 0, 123456, tzinfo=UTC), "0b5e-uuid"),
    (datetime(2026, 12, 1, 7, 0, tzinfo=timezone(timedelta(hours=-3))), "an|id|with|bars"),
    (datetime(1, 1, 1, tzinfo=UTC), "x" * 64),
])
def test_a_key_round_trips(key: tuple[datetime, str]) -> None:
    cursor = encode_cursor(key)
    assert decode_cursor(cursor) == key
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")  # URL-safe as is
    assert len(cursor) <= MAX_LENGTH


def _b64(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@pytest.mark.parametrize("text", [
    "", "%%%", "not base64 at all!", "x" * (MAX_LENGTH + 1),
    _b64("2026-12-01T10:00:00+00:00"),           # no id
    _b64("2026-12-01T10:00:00+00:00|"),          # an empty id
    _b64("2026-12-01T10:00:00|abc"),             # an instant without its offset
    _b64("yesterday|abc"),                       # not an instant
    _b64("2026-12-01T10:00:00+00:00|" + "x" * 65),  # longer than any task id
    _b64("2026-12-01T10:00:00+00:00|a\x00b"),    # a NUL PostgreSQL cannot compare
    base64.urlsafe_b64encode(b"\xff\xfe|x").decode(),  # not UTF-8
])
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(BadCursor):
        decode_cursor(text)
