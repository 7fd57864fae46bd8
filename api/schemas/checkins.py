"""HTTP models of check-ins and students (the seed's field names: `aluno_id`, `data_hora`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo
from typing import Annotated, Any, NotRequired

from pydantic import AfterValidator, BaseModel, Field, StrictInt, StringConstraints, TypeAdapter
from typing_extensions import TypedDict

from api.schemas.params import MAX_JSON_INT

AlunoId = Annotated[StrictInt, Field(gt=0, le=MAX_JSON_INT, description="Student id")]
#: Checked by `normalized_instants` (Python's ISO 8601 parser), after the length.
Instant = Annotated[str, Field(max_length=64, json_schema_extra={"format": "date-time"})]


class CheckinIn(TypedDict):
    """One check-in of `POST /checkin/batch`."""

    aluno_id: AlunoId
    data_hora: NotRequired[Annotated[Instant | None, Field(
        description="ISO 8601 instant; without an offset it is local time in TIMEZONE. Default: when the "
                    "request is accepted.",
        examples=["2026-11-21T07:30:00-03:00"])]]


def checkin_batch_adapter(max_items: int) -> TypeAdapter[list[CheckinIn]]:
    """Validator of a whole batch, straight from JSON bytes (one pass in pydantic-core).

    Items stay plain dicts: building 10,000 model objects, and pydantic datetimes whose
    time zones are Python objects, cost more than everything else a request does.
    """
    return TypeAdapter(Annotated[list[CheckinIn], Field(min_length=1, max_length=max_items)])


def normalized_instants(items: Sequence[CheckinIn], *, local: tzinfo,
                        default: str) -> tuple[list[str], list[dict[str, Any]]]:
    """ISO 8601 instants with an explicit offset, one per item, and the errors found.

    An instant without an offset is local time in `local`; a missing one is `default`.
    Errors use FastAPI's 422 shape, with the offending item's index in `loc`.
    """
    instants: list[str] = []
    errors: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        raw = item.get("data_hora")
        if raw is None:
            instants.append(default)
            continue
        try:
            parsed = datetime.fromisoformat(raw)
            parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=local)
            parsed.astimezone(UTC)  # an instant must exist in UTC (year 1..9999) for storage
        except (ValueError, OverflowError):
            errors.append({"type": "datetime_from_date_parsing", "loc": ["body", index, "data_hora"],
                           "msg": "Input should be an ISO 8601 date and time", "input": raw})
            continue
        instants.append(parsed.isoformat())
    return instants, errors


#: Every character `str.strip` removes.
WHITESPACE = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
              "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
NAME_PATTERN = f"^[^\\x00]*[^\\x00{WHITESPACE}][^\\x00]*$"


class AlunoIn(BaseModel):
    """One student of `POST /alunos`."""

    aluno_id: AlunoId
    # Something besides whitespace, and no NUL (PostgreSQL text refuses it: the upsert would be a 500). Checked as
    # given, then stripped: the document's constraints are the ones checked, in every regex dialect (the class
    # names Python's whitespace characters, a superset of Unicode's White_Space).
    nome: Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=NAME_PATTERN),
                    AfterValidator(str.strip)] | None = None


class AlunosUpserted(BaseModel):
    upserted: int
