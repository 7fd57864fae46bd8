"""Dates and times in query and path parameters: ISO 8601 text only, as the OpenAPI document says.

Pydantic also reads a number as a Unix time (`?since=0.5` is 1970-01-01T00:00:00.5Z, `/relatorio/diario/0`
is 1970-01-01), which the document does not allow and nobody means.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import Path
from pydantic import BeforeValidator

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _not_a_number(value: Any) -> Any:
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return value
    if isinstance(value, str | int | float):
        raise ValueError("expected an ISO 8601 date and time, not a number")
    return value


def _iso_date(value: Any) -> Any:
    if isinstance(value, str) and not _ISO_DATE.fullmatch(value):
        raise ValueError("expected an ISO 8601 date (YYYY-MM-DD)")
    return value


IsoDatetime = Annotated[datetime, BeforeValidator(_not_a_number)]
IsoDate = Annotated[date, BeforeValidator(_iso_date)]

#: The largest integer every JSON parser reads exactly (I-JSON, RFC 7493): ids stay within it, so a
#: document's `maximum` means the same to every client and validator (beyond 2**53 they compare as floats).
MAX_JSON_INT = 2**53 - 1
#: A database row id in a path (`/dead-letters/{letter_id}`); larger numbers overflowed the driver (500).
RowId = Annotated[int, Path(ge=1, le=MAX_JSON_INT)]
