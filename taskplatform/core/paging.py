"""One way to page a listing: count the matches, then fetch one window of them.

Counting every match is exact but costs a scan of them all (a million rows: tens of milliseconds with an index,
hundreds without); `count_matches` counts exactly only when that is cheap and otherwise takes PostgreSQL's planner
estimate, saying which it is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

T = TypeVar("T")

#: Below this many matches (by the planner's estimate) a listing's total is counted exactly; the count reads at
#: most this many rows more, whatever the estimate said.
EXACT_COUNT_BELOW = 10_000


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


def count_matches(session: Session, query: Select[Any], *, exact_below: int = EXACT_COUNT_BELOW) -> tuple[int, bool]:
    """(how many rows `query` returns, whether that is an estimate). Exact on databases other than PostgreSQL
    (SQLite in development). On PostgreSQL: the planner's estimate when it is `exact_below` or more; otherwise an
    exact count bounded to `exact_below` rows, so a wrong small estimate never turns into a full scan (a count
    that reaches the bound reports the larger of the bound and the estimate, as an estimate)."""
    if session.get_bind().dialect.name != "postgresql":
        return session.scalar(select(func.count()).select_from(query.subquery())) or 0, False
    estimate = planner_rows(session, query)
    if estimate >= exact_below:
        return estimate, True
    bounded = session.scalar(select(func.count()).select_from(query.limit(exact_below).subquery())) or 0
    if bounded < exact_below:
        return bounded, False
    return max(estimate, exact_below), True


def planner_rows(session: Session, query: Select[Any]) -> int:
    """PostgreSQL's estimate of the rows `query` returns (EXPLAIN: nothing runs), from the statistics ANALYZE and
    autovacuum keep."""
    connection = session.connection()
    compiled = query.compile(dialect=connection.dialect)
    plan = connection.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {compiled}", compiled.params).scalar_one()
    return int(plan[0]["Plan"]["Plan Rows"])
