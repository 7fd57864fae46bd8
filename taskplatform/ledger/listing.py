"""Reading the ledger as a listing: filters, newest first, paged by key (or by offset), with a cheap total.

Every listing is ordered by (created_at, id) descending, which the composite indexes of migration 0008 hold for
each filter ((state|name|queue, created_at, id), and (created_at, id) for none), so a page is one short index
range read whatever its depth when it is asked for by key. An offset still works, but reads and drops every row
before it: its cost grows with its depth.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select, tuple_
from sqlalchemy.orm import Session

from taskplatform.core.cursor import Key
from taskplatform.core.paging import count_matches, where_given
from taskplatform.ledger.models import TaskRecord


@dataclass(frozen=True)
class TaskFilter:
    state: str | None = None
    name: str | None = None
    queue: str | None = None
    since: datetime | None = None


@dataclass(frozen=True)
class KeysetPage:
    """A window of the listing after a position: its rows and the position after its last row (None at the end)."""

    items: list[TaskRecord]
    next_key: Key | None


@dataclass(frozen=True)
class TaskListing(KeysetPage):
    """A page with how many records match the filters in all; `estimated` when that is the planner's estimate."""

    total: int
    estimated: bool
    limit: int
    offset: int


def _filtered(filters: TaskFilter) -> Select[TaskRecord]:
    query = where_given(select(TaskRecord), (TaskRecord.state, filters.state), (TaskRecord.name, filters.name),
                        (TaskRecord.queue, filters.queue))
    return query.where(TaskRecord.created_at >= filters.since) if filters.since else query


def list_task_records_after(*, session: Session, filters: TaskFilter, limit: int, after: Key | None = None,
                            offset: int = 0) -> KeysetPage:
    """Matching records, newest first, from just after `after` (a row's (created_at, id)): each page costs the
    same however deep it is, and rows that arrive meanwhile never shift the next page, unlike an offset."""
    query = _filtered(filters)
    if after is not None:
        # A row value comparison, not `a < x OR (a = x AND b < y)`: PostgreSQL reads it as one index range.
        query = query.where(tuple_(TaskRecord.created_at, TaskRecord.id) < tuple_(*after))
    query = query.order_by(TaskRecord.created_at.desc(), TaskRecord.id.desc()).limit(limit + 1).offset(offset)
    rows = list(session.scalars(query))
    items = rows[:limit]
    return KeysetPage(items=items, next_key=(items[-1].created_at, items[-1].id) if len(rows) > limit else None)


def list_task_records(*, session: Session, filters: TaskFilter, limit: int, offset: int = 0,
                      after: Key | None = None) -> TaskListing:
    """A page of matching records, newest first (after `after`, then `offset` skipped), with the total of every
    match (not only those after `after`): exact when counting is cheap, else estimated (`count_matches`)."""
    page = list_task_records_after(session=session, filters=filters, limit=limit, after=after, offset=offset)
    total, estimated = count_matches(session, _filtered(filters))
    return TaskListing(items=page.items, next_key=page.next_key, total=total, estimated=estimated, limit=limit,
                       offset=offset)
