"""Request bodies validated by hand (one pydantic-core pass over the raw bytes)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError


def body_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """FastAPI's 422 shape: each error's location prefixed with "body".

    An error about the whole body would echo up to 10,000 items back: its input is dropped.
    """
    return [{**error, "loc": ["body", *error["loc"]]} if error["loc"] else
            {k: v for k, v in error.items() if k != "input"} | {"loc": ["body"]}
            for error in exc.errors(include_url=False)]
