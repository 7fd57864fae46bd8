"""Finishing touches on the generated OpenAPI document, so that every tool can use all of it.

- Schemas built from a pydantic TypeAdapter carry their own `$defs` with `#/$defs/...` references, which
  resolve against the document's root, where there are none: they move to `components/schemas`.
- An error answer documented without a body (the API-key middleware's 401, for one) gets `ErrorOut`,
  the body every error has.
- Links (OpenAPI 3.1 `links`): a task accepted with 202 leads to `GET /tarefa/{task_id}`, a generation
  to `GET /api/result/{job_id}`, a trained version to its activation and plot, a list to its first item;
  clients and stateful testers follow them.
"""

from __future__ import annotations

from typing import Any

from api.schemas.errors import ErrorOut

COMPONENTS = "#/components/schemas/"
LOCAL = "#/$defs/"
NO_NUL = "^[^\\u0000]*$"
#: Any JSON value a database can store: no NUL character in a string or a key (PostgreSQL refuses them).
STORABLE_JSON: dict[str, Any] = {"anyOf": [
    {"type": "string", "pattern": NO_NUL}, {"type": "number"}, {"type": "boolean"}, {"type": "null"},
    {"type": "array", "items": {"$ref": COMPONENTS + "StorableJson"}},
    {"type": "object", "propertyNames": {"pattern": NO_NUL},
     "additionalProperties": {"$ref": COMPONENTS + "StorableJson"}}]}
STORABLE_REF = {"$ref": COMPONENTS + "StorableJson"}


def storable(node: Any) -> Any:
    """A body schema narrowed to what a database can store: strings and keys without NUL, any JSON value within."""
    if isinstance(node, list):
        return [storable(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: storable(value) for key, value in node.items()}
    if node.get("type") == "string" and "pattern" not in node and "format" not in node:
        node["pattern"] = NO_NUL
    if node.get("type") == "object":
        node.setdefault("propertyNames", {"pattern": NO_NUL})
        if node.get("additionalProperties", True) in (True, {}):
            node["additionalProperties"] = STORABLE_REF
    if node.get("type") == "array" and node.get("items", {}) == {}:
        node["items"] = STORABLE_REF
    return node
#: Schema of a 2xx body -> links: (name, operation it leads to, that operation's parameter, the body's pointer).
LINKS: dict[str, list[tuple[str, str, str, str]]] = {
    COMPONENTS + "TaskAccepted": [("GetTask", "tasks-get_task", "task_id", "/task_id")],
    COMPONENTS + "JobAccepted": [("GetResult", "textgen-result", "job_id", "/job_id")],
    COMPONENTS + "TrainingOut": [("ActivateVersion", "housing-activate_housing_model", "versao", "/versao"),
                                 ("GetPlot", "housing-housing_model_plot", "versao", "/versao")],
    COMPONENTS + "DeadLetterList": [("GetFirst", "dead-letters-dead_letter", "letter_id", "/items/0/id"),
                                    ("ReplayFirst", "dead-letters-replay_dead_letter", "letter_id", "/items/0/id")],
    COMPONENTS + "DeviceList": [("GetFirst", "devices-device", "raspberry_id", "/items/0/raspberry_id")],
}


def _hoist_defs(node: Any, found: dict[str, Any]) -> Any:
    """The node without `$defs`, gathering them into `found`, with `#/$defs/X` references rewritten."""
    if isinstance(node, dict):
        for name, definition in node.get("$defs", {}).items():
            definition = _hoist_defs(definition, found)
            if found.setdefault(name, definition) != definition:
                raise ValueError(f"two different schemas are both named {name!r}")
        return {key: (COMPONENTS + value.removeprefix(LOCAL) if key == "$ref" and str(value).startswith(LOCAL)
                      else _hoist_defs(value, found))
                for key, value in node.items() if key != "$defs"}
    if isinstance(node, list):
        return [_hoist_defs(item, found) for item in node]
    return node


def _operations(schema: dict[str, Any]) -> list[dict[str, Any]]:
    return [operation for item in schema.get("paths", {}).values() for operation in item.values()
            if isinstance(operation, dict) and "responses" in operation]


def complete_openapi(schema: dict[str, Any]) -> dict[str, Any]:
    """The document with local `$defs` hoisted, a body for every error answer, and links between operations."""
    found: dict[str, Any] = {}
    schema["paths"] = _hoist_defs(schema.get("paths", {}), found)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name, definition in found.items():
        if components.setdefault(name, definition) != definition:
            raise ValueError(f"two different schemas are both named {name!r}")
    components.setdefault("ErrorOut", ErrorOut.model_json_schema(ref_template=COMPONENTS + "{model}"))
    components.setdefault("StorableJson", STORABLE_JSON)
    operation_ids = {operation.get("operationId") for operation in _operations(schema)}
    for operation in _operations(schema):
        for status, response in operation["responses"].items():
            if status[0] in "45" and "content" not in response:
                response["content"] = {"application/json": {"schema": {"$ref": COMPONENTS + "ErrorOut"}}}
            body = response.get("content", {}).get("application/json", {}).get("schema", {})
            for name, target, parameter, pointer in LINKS.get(body.get("$ref", ""), []) if status[0] == "2" else []:
                if target in operation_ids:
                    response.setdefault("links", {})[name] = {
                        "operationId": target, "parameters": {parameter: f"$response.body#{pointer}"},
                        "description": f"`{pointer}` of this answer is the `{parameter}` of `{target}`"}
    return schema
