"""Schemathesis hooks of the contract run (`hooks` in schemathesis.toml): two rules no JSON Schema can state.

- The API takes an integer only as a JSON integer: `5.0` for an id or a count is a 422, a deliberate choice
  (`tests/unit/test_checkin_schemas.py`). For JSON Schema 5.0 is an integer, and schemathesis does send `5.0`
  where `integer` is documented; here such numbers go out as `5`.
- An `Idempotency-Key` is bound to the request it first came with: the same key with another body is a 422
  (`idempotency_key_reused`, as the IETF Idempotency-Key draft says). Schemathesis reuses generated header
  values across cases; that 422 is not a refusal of valid data.
- `/tarefas`' `cursor` is opaque: only a page's `proximo` is one, which no schema can state (a string of the right
  alphabet and length may still name no position). Its refusal, a 422 located at `["query", "cursor"]`, is not a
  refusal of valid data either; any other 422 still is.
"""

from __future__ import annotations

from typing import Any

import schemathesis


def _integers_as_integers(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _integers_as_integers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_integers_as_integers(item) for item in value]
    return value


@schemathesis.hook
def map_body(context: schemathesis.HookContext, body: Any) -> Any:
    return _integers_as_integers(body)


def _only_the_cursor_refused(response: Any) -> bool:
    try:
        errors = response.json()["detail"]
    except (ValueError, KeyError, TypeError):
        return False
    return isinstance(errors, list) and bool(errors) and all(
        isinstance(e, dict) and e.get("loc") == ["query", "cursor"] for e in errors)


@schemathesis.hook
def filter_failure(context: schemathesis.HookContext, failure: Any, case: Any, response: Any) -> bool:
    if response.status_code != 422:
        return True
    if b"idempotency_key_reused" in (response.content or b""):
        return False
    return not (case.path == "/tarefas" and _only_the_cursor_refused(response))
