"""Parameters and bodies validated as the OpenAPI document states them (found by the contract run)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from api.routers.textgen import PredictIn
from api.schemas.params import IsoDate, IsoDatetime

DATETIME = TypeAdapter(IsoDatetime)
DATE = TypeAdapter(IsoDate)


@pytest.mark.parametrize("number", ["0.5", "0", "1700000000", "-1", "1e3"])
def test_a_datetime_parameter_is_not_a_unix_time(number: str) -> None:
    """Catches `?since=0.5` read as 1970-01-01T00:00:00.5Z where the document says an ISO 8601 date-time."""
    with pytest.raises(ValidationError):
        DATETIME.validate_python(number)


def test_a_datetime_parameter_takes_iso_8601() -> None:
    assert DATETIME.validate_python("2026-11-21T07:30:00-03:00").isoformat() == "2026-11-21T07:30:00-03:00"
    assert DATETIME.validate_python("2026-11-21T07:30:00").tzinfo is None  # local time, as documented


@pytest.mark.parametrize("text", ["0", "20261121", "2026-11-21T00:00", "2026-11-21 "])
def test_a_date_parameter_is_yyyy_mm_dd(text: str) -> None:
    """Catches `/relatorio/diario/0` read as 1970-01-01 where the document says a date."""
    with pytest.raises(ValidationError):
        DATE.validate_python(text)


@pytest.mark.parametrize("body", [
    {"text": "oi", "temperature": False},
    {"text": "oi", "temperature": "0.5"},
    {"text": "oi", "max_new_tokens": "8"},
    {"text": "oi", "max_new_tokens": True},
])
def test_predict_numbers_are_json_numbers(body: dict[str, Any]) -> None:
    """Catches `temperature: false` or `max_new_tokens: "8"` accepted (coerced) although documented as numbers."""
    with pytest.raises(ValidationError):
        PredictIn.model_validate(body)
