"""Limits on what a message may hold: object-key segments, strict JSON, session ids, device readings, 422 bodies."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from api.validation import body_errors
from storage.keys import session_key
from taskplatform.core.settings import get_settings
from taskplatform.devices.store import parse_reading
from taskplatform.messaging.raw_messages import InvalidMessage, json_object
from taskplatform.sessions.messages import parse_session


@pytest.mark.parametrize("segment", ["abc\n", "abc\r\n", "\nabc", "a/b", "..", ""])
def test_a_key_segment_with_a_newline_or_a_slash_is_refused(segment: str) -> None:
    """Breach: the segment regex ended in `$`, which also matches before a trailing newline, so `abc\\n` passed."""
    with pytest.raises(ValueError, match="cannot be part of an object key"):
        session_key(segment, "s1")
    with pytest.raises(ValueError, match="cannot be part of an object key"):
        session_key("u1", segment)


def test_a_session_key_past_the_object_stores_limit_is_refused() -> None:
    """Breach: a 2,000-character user_id made a key S3 refuses (KeyTooLongError) in the worker, after a 202."""
    with pytest.raises(ValueError, match="1024"):
        session_key("u" * 1000, "s" * 100)
    assert session_key("u1", "s1") == "sessions/u1/s1.json"


@pytest.mark.parametrize("body", [b'{"a": NaN}', b'{"a": Infinity}', b'{"a": [1, {"b": -Infinity}]}',
                                  b'{"a": 1e999}', b'{"a": {"b": [-1e400]}}'])
def test_non_finite_numbers_are_not_json(body: bytes) -> None:
    """Breach: Python's json reads NaN, Infinity and 1e999, so a stored copy of the message was not JSON."""
    with pytest.raises(InvalidMessage) as caught:
        json_object(body, what="a message")
    assert caught.value.reason == "invalid_json"


def test_a_decoded_document_with_nan_names_the_field() -> None:
    """Breach: a body FastAPI (or Celery) had already decoded kept its NaN unnoticed."""
    with pytest.raises(InvalidMessage) as caught:
        json_object({"events": [{"x": 1.0}, {"x": float("nan")}]}, what="a session")
    assert caught.value.loc == ("events", 1, "x")
    assert json_object(b'{"a": 1.5, "b": [1, null]}', what="a message") == {"a": 1.5, "b": [1, None]}


@pytest.mark.parametrize(("body", "loc", "reason"), [
    (b'{"a": {"b": [1.5, -1e400]}}', ("a", "b", 1), "invalid_json"),
    (b'{"a": [{"b": "x\\u0000y"}]}', ("a", 0, "b"), "invalid_text"),
    ('{"k\\u0000": 1}', ("k\x00",), "invalid_text"),
])
def test_bodies_are_walked_for_the_path_when_their_text_can_hold_what_a_database_refuses(
        body: bytes | str, loc: tuple[str | int, ...], reason: str) -> None:
    """Breach: the consumers' fast path (no walk of the decoded document unless its text holds an escaped NUL or a
    number that overflowed) letting a NUL or an infinity through, or losing the offending field's path."""
    with pytest.raises(InvalidMessage) as caught:
        json_object(body, what="a message")
    assert (caught.value.loc, caught.value.reason) == (loc, reason)


def test_an_escaped_backslash_before_u0000_is_text_not_a_nul() -> None:
    assert json_object(b'{"a": "\\\\u0000"}', what="a message") == {"a": "\\u0000"}


def _session(**fields: Any) -> dict[str, Any]:
    return {"user_id": "u1", "session_uuid": "s1", "events": [], **fields}


@pytest.mark.parametrize("field", ["user_id", "session_uuid"])
def test_a_session_id_longer_than_the_limit_is_refused_naming_it(field: str) -> None:
    """Breach: a 2,000-character user_id was accepted with 202 and failed in the worker (KeyTooLongError)."""
    limit = get_settings().session_id_max_length
    with pytest.raises(InvalidMessage) as caught:
        parse_session(_session(**{field: "x" * (limit + 1)}))
    assert caught.value.loc == (field,) and caught.value.reason == "invalid_key"
    assert parse_session(_session(**{field: "x" * limit})).key.count("x") == limit


def test_a_session_with_nan_from_the_raw_queue_is_invalid() -> None:
    """Breach: `raw_sessions` stored a session holding NaN, which no JSON reader can load back."""
    with pytest.raises(InvalidMessage) as caught:
        parse_session(json.dumps(_session(metadata={"score": float("nan")})).encode())
    assert caught.value.reason == "invalid_json"


def test_a_session_larger_than_its_limit_from_the_raw_queue_is_invalid() -> None:
    """Breach: the raw queue took sessions of any size, where HTTP has MAX_BODY_BYTES_SESSIONS."""
    body = json.dumps(_session(events=["e" * get_settings().max_body_bytes_sessions])).encode()
    with pytest.raises(InvalidMessage) as caught:
        parse_session(body)
    assert caught.value.reason == "too_large"


@pytest.mark.parametrize(("field", "value"), [
    ("gpio_used_count", 2**70), ("gpio_used_count", 2**31), ("usb_devices_count", -1),
    ("net_bytes_sent", 2**63), ("net_bytes_recv", 2**64), ("cpu_percent", float("inf")),
    ("cpu_percent", "NaN"), ("cpu_percent", "-Infinity"),
])
def test_a_reading_beyond_its_columns_range_is_refused_naming_the_field(field: str, value: Any) -> None:
    """Breach: gpio_used_count = 2**70 was accepted with 202 and then overflowed the INTEGER column in the worker."""
    with pytest.raises(InvalidMessage) as caught:
        parse_reading({"id": "pi-1", field: value})
    assert caught.value.loc == (field,)


def test_a_reading_within_the_columns_ranges_is_accepted() -> None:
    reading = parse_reading({"id": "pi-1", "gpio_used_count": 2**31 - 1, "net_bytes_sent": 2**63 - 1,
                             "cpu_percent": 12.5, "usb_devices_count": 0})
    assert reading.gpio_used_count == 2**31 - 1 and reading.net_bytes_sent == 2**63 - 1


def test_extra_fields_past_their_byte_limit_are_refused() -> None:
    """Breach: `device_status.extra` kept whatever a device sent beyond the table's columns, of any size."""
    limit = get_settings().device_extra_max_bytes
    with pytest.raises(InvalidMessage) as caught:
        parse_reading({"id": "pi-1", "notes": "n" * limit})
    assert caught.value.loc == ("extra",) and "DEVICE_EXTRA_MAX_BYTES" in str(caught.value)
    assert parse_reading({"id": "pi-1", "notes": "n" * (limit // 2)}).model_extra == {"notes": "n" * (limit // 2)}


def test_a_reading_with_nan_deep_inside_is_refused() -> None:
    """Breach: NaN in a nested field (`net_ifaces`) reached the JSON column."""
    with pytest.raises(InvalidMessage) as caught:
        parse_reading(b'{"id": "pi-1", "net_ifaces": {"eth0": {"rx": NaN}}}')
    assert caught.value.reason == "invalid_json"


class _Rows(BaseModel):
    dados: list[dict[str, int]]


def test_a_422_quotes_an_excerpt_of_a_large_input_not_all_of_it() -> None:
    """Breach: a 422 from /treinar echoed the whole input back (a 20 MB body, a 20 MB answer)."""
    huge = "x" * 1_000_000
    with pytest.raises(ValidationError) as caught:
        _Rows.model_validate_json(json.dumps({"dados": [{"a": huge}, {"b": [1] * 100_000}]}))
    errors = body_errors(caught.value)
    assert len(json.dumps(errors)) < 2_000
    assert errors[0]["loc"] == ["body", "dados", 0, "a"] and errors[0]["input"].startswith("xxx")
    with pytest.raises(ValidationError) as whole:
        _Rows.model_validate_json(json.dumps([huge]))
    assert len(json.dumps(body_errors(whole.value))) < 2_000


@pytest.mark.parametrize("document", [{"id": "pi\x00"}, {"id": "pi", "notes": ["ok", "n\x00"]},
                                      {"id": "pi", "net_ifaces": {"eth\x000": 1}}])
def test_a_nul_character_is_refused_before_it_reaches_postgresql(document: dict[str, Any]) -> None:
    """Breach: PostgreSQL's text and JSON columns refuse NUL: a reading holding one was accepted with 202 and then
    failed in the worker (and, on Redis, in the ledger's copy of the message: a 500)."""
    with pytest.raises(InvalidMessage) as caught:
        parse_reading(document)
    assert caught.value.reason == "invalid_text"
    with pytest.raises(InvalidMessage):
        parse_session(json.dumps(_session(**document)).encode())
