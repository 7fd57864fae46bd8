"""One way to page a listing: count the matches, then fetch one window of them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """A window of a listing: its rows, and how many rows match in all (whatever `limit` and `offset`)."""

    items: list[T]
    total: int
    limit: int
    offset: int


def fetch_page(session: Session, query: Select[T], *order_by: Any, limit: int, offset: int) -> Page[T]:
    """The rows of `query` in `order_by` order (which must be total, so pages never overlap), `offset` skipped and at
    most `limit` kept, with the count of every matching row."""
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    items = list(session.scalars(query.order_by(*order_by).limit(limit).offset(offset)))
    return Page(items=items, total=total, limit=limit, offset=offset)


def where_given(query: Select[T], *pairs: tuple[Any, Any]) -> Select[T]:
    """`query` narrowed to `column == value` for each (column, value) whose value is given (not None, not empty):
    a listing's optional equality filters."""
    for column, value in pairs:
        if value is not None and value != "":
            query = query.where(column == value)
    return query
