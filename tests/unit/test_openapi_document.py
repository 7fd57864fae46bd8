"""The OpenAPI document itself: every reference resolves, every answer is documented, bodies as validated."""

from __future__ import annotations

import json
from typing import Any

import pytest

from api.main import app
from taskplatform.devices.store import parse_reading
from taskplatform.messaging.raw_messages import InvalidMessage


def _document() -> dict[str, Any]:
    return app.openapi()


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [ref for key, value in node.items() for ref in ([value] if key == "$ref" else _refs(value))]
    if isinstance(node, list):
        return [ref for item in node for ref in _refs(item)]
    return []


def _resolve(document: dict[str, Any], ref: str) -> Any:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def test_every_reference_resolves_from_the_document_root() -> None:
    """Catches `#/$defs/CheckinIn` in `/checkin/batch`'s body, which no tool could resolve."""
    document = _document()
    refs = _refs(document)
    assert refs and all(ref.startswith("#/components/schemas/") for ref in refs), sorted(set(refs))
    for ref in set(refs):
        _resolve(document, ref)
    assert "$defs" not in json.dumps(document["paths"])


def test_every_error_answer_has_a_body_schema() -> None:
    """Catches error answers (401 of the API-key middleware, 404s) documented without the body they have."""
    for path, item in _document()["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if status[0] in "45":
                    assert "application/json" in response.get("content", {}), f"{method} {path} {status}"


@pytest.mark.parametrize(("method", "path", "statuses"), [
    ("get", "/tarefa/{task_id}", {"200", "404", "422"}),
    ("post", "/prever", {"200", "202", "401", "409", "422", "503"}),
    ("post", "/treinar", {"200", "202", "401", "422", "503"}),
    ("post", "/dead-letters/{letter_id}/replay", {"202", "400", "401", "404", "422", "503"}),
    ("post", "/api/predict", {"200", "400", "401", "422", "503"}),
])
def test_answers_are_documented(method: str, path: str, statuses: set[str]) -> None:
    """Catches answers the API gives but the document omitted (404 for an unknown id, 409 without a model)."""
    assert statuses <= set(_document()["paths"][path][method]["responses"])


def test_accepted_tasks_link_to_their_status() -> None:
    """Catches a 202 whose `task_id` a client (or a stateful tester) cannot follow to `GET /tarefa/{task_id}`."""
    accepted = _document()["paths"]["/checkin/batch"]["post"]["responses"]["202"]
    assert accepted["links"]["GetTask"] == {
        "operationId": "tasks-get_task", "parameters": {"task_id": "$response.body#/task_id"},
        "description": accepted["links"]["GetTask"]["description"]}


def test_housing_bodies_are_documented_as_validated() -> None:
    """Catches `/treinar` and `/prever` documenting any row (nested objects, a single row to train on) where
    only rows of scalar cells, and at least 20 of them to train, are accepted."""
    paths = _document()["paths"]
    training = paths["/treinar"]["post"]["requestBody"]
    dados = training["content"]["application/json"]["schema"]["properties"]["dados"]
    assert training["required"] is True
    assert dados["minItems"] == 20 and dados["maxItems"] == 200_000
    cell_types = {option["type"] for option in dados["items"]["additionalProperties"]["anyOf"]}
    assert cell_types == {"number", "string", "boolean", "null"}
    upload = training["content"]["multipart/form-data"]["schema"]
    assert upload["anyOf"] == [{"required": ["arquivo"]}, {"required": ["file"]}]
    prediction = paths["/prever"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert prediction["properties"]["dados"]["items"] == dados["items"]


def test_replay_body_refuses_unknown_fields() -> None:
    """Catches a replay body documented and parsed as open when only `body` means anything."""
    assert _resolve(_document(), "#/components/schemas/ReplayIn")["additionalProperties"] is False


@pytest.mark.parametrize("reading", [
    {"id": "pi", "gpio_used_count": False},
    {"id": "pi", "net_bytes_sent": "10"},
    {"id": "pi", "led_internal_status": 1},
    {"id": "pi", "led_external_status": None},
    {"id": "pi", "cpu_percent": "12.5"},
    {"id": "pi", "cpu_temp": 2**60},
    {"id": "pi", "cpu_temp": float("nan")},
])
def test_device_readings_take_the_types_the_document_gives(reading: dict[str, Any]) -> None:
    """Catches `false` for a count, "12.5" for a percentage or 1 for a LED being accepted (coerced) although
    the document says integer, number and boolean; a null LED (accepted, then a NOT NULL failure in the worker);
    and a number for a text field beyond what it documents."""
    with pytest.raises(InvalidMessage):
        parse_reading(reading)


def test_device_readings_take_numbers_for_text_fields() -> None:
    assert parse_reading({"id": 7, "cpu_temp": 48.5}).model_dump(exclude_unset=True) == {"id": "7", "cpu_temp": "48.5"}
