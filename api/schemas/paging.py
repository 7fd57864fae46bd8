"""The HTTP shape of a page of a listing: the window asked for, the total that matches, and the items."""

from __future__ import annotations

from typing import Any, Self

from pydantic import BaseModel

from taskplatform.core.paging import Page


class PageOut(BaseModel):
    """Fields every listing shares; a subclass adds its `items` (and any field of its own)."""

    total: int
    limit: int
    offset: int

    @classmethod
    def of(cls, page: Page[Any], items: list[Any], **fields: Any) -> Self:
        """The listing's answer: `page`'s window and total, with its rows as `items` (already HTTP models)."""
        return cls(total=page.total, limit=page.limit, offset=page.offset, items=items, **fields)
