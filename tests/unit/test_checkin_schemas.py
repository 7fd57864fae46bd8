"""Check-in and student request models: strict ids, optional instants, trimmed names."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import TypeAdapter, ValidationError

from api.schemas.checkins import AlunoIn, CheckinIn, checkin_batch_adapter, normalized_instants

CHECKINS = TypeAdapter(list[CheckinIn])
ALUNOS = TypeAdapter(list[AlunoIn])
SAO_PAULO = ZoneInfo("America/Sao_Paulo")
ACCEPTED = "2026-11-20T15:00:00+00:00"


def checkins(payload: Any) -> list[CheckinIn]:
    """Validate as the API does: from the JSON body."""
    return CHECKINS.validate_json(json.dumps(payload))


def instants(payload: Any) -> tuple[list[str], list[dict[str, Any]]]:
    return normalized_instants(checkins(payload), local=SAO_PAULO, default=ACCEPTED)


def test_valid_batch() -> None:
    batch = checkins([{"aluno_id": 1, "data_hora": "2026-11-20T10:00:00Z"}, {"aluno_id": 2**53 - 1}])
    assert [c["aluno_id"] for c in batch] == [1, 2**53 - 1]
    assert batch[0].get("data_hora") == "2026-11-20T10:00:00Z"
    assert "data_hora" not in batch[1]


@pytest.mark.parametrize("bad", ["1", 1.5, 1.0, True, 0, -1, 2**53, 2**63, None])
def test_aluno_id_must_be_a_strict_positive_integer(bad: Any) -> None:
    """Ids stay within what every JSON parser reads exactly (2**53 - 1): beyond it, a validator comparing
    numbers as floats takes 2**63 + 191 for the documented maximum, 2**63 - 1."""
    with pytest.raises(ValidationError) as excinfo:
        checkins([{"aluno_id": bad}])
    assert excinfo.value.errors()[0]["loc"] == (0, "aluno_id")


@pytest.mark.parametrize("bad", ["1", 1.5, True, 0, -3])
def test_aluno_id_strict_from_python_too(bad: Any) -> None:
    with pytest.raises(ValidationError):
        CHECKINS.validate_python([{"aluno_id": bad}])


def test_missing_aluno_id_is_rejected() -> None:
    with pytest.raises(ValidationError, match="aluno_id"):
        checkins([{"data_hora": "2026-11-20T10:00:00"}])


@pytest.mark.parametrize("bad", [1763632800, ["2026-11-20"], "2026-11-20T10:00:00" + " " * 60])
def test_data_hora_must_be_a_short_string(bad: Any) -> None:
    with pytest.raises(ValidationError) as excinfo:
        checkins([{"aluno_id": 1, "data_hora": bad}])
    assert excinfo.value.errors()[0]["loc"][:2] == (0, "data_hora")


def test_batch_adapter_bounds_the_batch_size() -> None:
    adapter = checkin_batch_adapter(3)
    assert len(adapter.validate_json(b'[{"aluno_id": 1}, {"aluno_id": 2}, {"aluno_id": 3}]')) == 3
    for body in (b"[]", b'[{"aluno_id": 1}, {"aluno_id": 2}, {"aluno_id": 3}, {"aluno_id": 4}]'):
        with pytest.raises(ValidationError):
            adapter.validate_json(body)


def test_missing_or_null_instant_takes_the_default() -> None:
    assert instants([{"aluno_id": 1}, {"aluno_id": 2, "data_hora": None}]) == ([ACCEPTED, ACCEPTED], [])


def test_naive_instant_is_local_time() -> None:
    [instant], errors = instants([{"aluno_id": 7, "data_hora": "2026-11-20T10:00:00"}])
    assert errors == []
    assert datetime.fromisoformat(instant) == datetime(2026, 11, 20, 13, tzinfo=UTC)
    assert datetime.fromisoformat(instant).utcoffset() == timedelta(hours=-3)


@pytest.mark.parametrize("raw", ["2026-11-20T07:00:00-03:00", "2026-11-20T10:00:00Z", "2026-11-20T15:30:00+05:30"])
def test_offset_instant_keeps_its_instant(raw: str) -> None:
    [instant], errors = instants([{"aluno_id": 7, "data_hora": raw}])
    assert errors == []
    parsed = datetime.fromisoformat(instant)
    assert parsed == datetime.fromisoformat(raw)
    assert parsed.utcoffset() == datetime.fromisoformat(raw).utcoffset()


def test_malformed_instants_are_reported_with_their_index() -> None:
    payload = [{"aluno_id": 1, "data_hora": "2026-11-20T10:00:00"}, {"aluno_id": 2, "data_hora": "yesterday"},
               {"aluno_id": 3, "data_hora": "2026-13-01T00:00:00"}, {"aluno_id": 4, "data_hora": ""}]
    good, errors = instants(payload)
    assert len(good) == 1
    assert [e["loc"] for e in errors] == [["body", 1, "data_hora"], ["body", 2, "data_hora"], ["body", 3, "data_hora"]]
    assert [e["input"] for e in errors] == ["yesterday", "2026-13-01T00:00:00", ""]
    assert all(e["msg"] == "Input should be an ISO 8601 date and time" for e in errors)


@pytest.mark.parametrize("raw", ["9999-12-31T23:59:59-01:00", "9999-12-31T23:00:00"])
def test_instant_outside_the_utc_range_is_reported(raw: str) -> None:
    _, errors = instants([{"aluno_id": 1, "data_hora": raw}])
    assert [e["loc"] for e in errors] == [["body", 0, "data_hora"]]


def test_normalized_instants_carry_offsets_ingestion_accepts() -> None:
    good, errors = instants([{"aluno_id": 1, "data_hora": "2026-11-20T10:00:00"},
                             {"aluno_id": 2, "data_hora": "2026-11-20T10:00:00+01:00"}])
    assert errors == []
    assert all(datetime.fromisoformat(i).tzinfo is not None for i in good)
    assert datetime.fromisoformat(good[1]).tzinfo == timezone(timedelta(hours=1))


def test_aluno_name_is_stripped() -> None:
    [aluno] = ALUNOS.validate_json(json.dumps([{"aluno_id": 3, "nome": "  Maria Silva \t"}]))
    assert aluno.nome == "Maria Silva"


def test_aluno_name_is_optional() -> None:
    [aluno] = ALUNOS.validate_json(json.dumps([{"aluno_id": 3}]))
    assert aluno.nome is None


def test_aluno_name_is_checked_as_sent_then_stored_stripped() -> None:
    """Breach caught: a name the OpenAPI document allows refused once stripped (schemathesis sent "\u0085", which
    `maxLength`/`minLength` and the pattern allowed, and got a 422), or one it forbids accepted."""
    [aluno] = ALUNOS.validate_python([{"aluno_id": 3, "nome": "  Ana\u3000"}])
    assert aluno.nome == "Ana"
    with pytest.raises(ValidationError):
        ALUNOS.validate_python([{"aluno_id": 3, "nome": "  " + "x" * 199}])  # 201 characters as sent


@pytest.mark.parametrize("bad", ["", "   ", "\u0085", "\x1c\u2028", "x" * 201])
def test_aluno_name_blank_or_too_long_is_rejected(bad: str) -> None:
    with pytest.raises(ValidationError) as excinfo:
        ALUNOS.validate_python([{"aluno_id": 3, "nome": bad}])
    assert excinfo.value.errors()[0]["loc"][:2] == (0, "nome")


@pytest.mark.parametrize("bad", ["3", 0, True])
def test_aluno_id_of_a_student_is_strict(bad: Any) -> None:
    with pytest.raises(ValidationError):
        ALUNOS.validate_python([{"aluno_id": bad, "nome": "Ana"}])
