"""Request validation shared by the routers: bounded query/path integers, and 422 bodies that stay small."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import FastAPI, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, ValidationError

from taskplatform.core.settings import get_settings
from taskplatform.messaging.raw_messages import InvalidMessage

#: The database's integer range (BIGINT, SQLite's INTEGER): larger numbers overflow in the driver.
DB_INT_MAX = 2**63 - 1
#: Rows skipped by a listing; a larger one is a 422 instead of an OverflowError in the driver.
Offset = Annotated[int, Query(ge=0, le=DB_INT_MAX)]
#: A row id in a path (`/dead-letters/{letter_id}`).
RowId = Annotated[int, Path(ge=1, le=DB_INT_MAX)]
#: Text the database can compare and store: PostgreSQL refuses NUL characters (a 500 from the driver otherwise).
NO_NUL = r"^[^\x00]*$"
#: A free-text filter of a listing, compared with a column of at most 200 characters.
FilterText = Annotated[str | None, Query(max_length=200, pattern=NO_NUL)]
#: An id or name in a path, looked up in the database.
PathText = Annotated[str, Path(max_length=200, pattern=NO_NUL)]


def aware_moment(value: datetime | None) -> datetime | None:
    """The moment with its time zone (a naive one is local TIMEZONE), one the database can compare: in UTC it must
    fall in years 1 to 9999, else the conversion overflows in the driver (a 500)."""
    if value is None:
        return None
    aware = value if value.tzinfo else value.replace(tzinfo=get_settings().tz)
    try:
        aware.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValueError("the moment falls outside years 1 to 9999 in UTC") from None
    return aware


#: A lower bound in time for a listing, as a query parameter: the route receives it timezone-aware.
UtcMoment = AfterValidator(aware_moment)

#: Longest string an error echoes back as `input`; longer ones are cut, containers dropped.
INPUT_EXCERPT = 100


def excerpt(value: Any) -> Any:
    """A short stand-in for an input echoed in an error: a 20 MB body must not come back in the 422."""
    if value is None or isinstance(value, bool | int | float):
        return value if not isinstance(value, int) or abs(value) < 10**30 else str(value)[:INPUT_EXCERPT] + "..."
    if isinstance(value, str):
        return value if len(value) <= INPUT_EXCERPT else value[:INPUT_EXCERPT] + "..."
    return f"({type(value).__name__}, not shown)"


def small_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Errors with their `input` cut to an excerpt and without pydantic's `ctx`/`url` extras."""
    return [{k: v for k, v in error.items() if k not in {"input", "ctx", "url"}}
            | ({"input": excerpt(error["input"])} if "input" in error else {}) for error in errors]


def body_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """FastAPI's 422 shape: each error's location prefixed with "body", its input only as a short excerpt."""
    return small_errors([{**error, "loc": ["body", *error["loc"]]}
                         for error in exc.errors(include_url=False, include_context=False)])


def _invalid_message(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InvalidMessage)
    return JSONResponse(status_code=422, content={"detail": [{"type": exc.reason, "loc": ["body", *exc.loc],
                                                               "msg": str(exc)}]})


def answer_invalid_messages(app: FastAPI) -> None:
    """A route that raises `InvalidMessage` (a body that can never be applied) answers 422 in FastAPI's shape: its
    `reason` as the type, its location inside the body prefixed with "body"."""
    app.add_exception_handler(InvalidMessage, _invalid_message)
