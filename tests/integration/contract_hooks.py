"""Schemathesis hooks of the contract run (`hooks` in schemathesis.toml).

The API takes an integer only as a JSON integer: `5.0` for an id or a count is a 422, a deliberate choice
(`tests/unit/test_checkin_schemas.py`). JSON Schema cannot say so (for it 5.0 is an integer), and
schemathesis does send `5.0` where `integer` is documented; here such numbers go out as `5`.
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
