"""The ledger's hottest statements on PostgreSQL, run through the driver (psycopg) rather than the ORM.

Every tracked task pays for these: the producer's QUEUED record, and a short task's read and final write. Through
psycopg directly, each is a prepared statement (psycopg prepares a query it has run five times, so PostgreSQL
plans it once per connection) and costs about a quarter of the client CPU of the same SQL through a Session
(measured: 0.05 against 0.25 ms for the read, 0.14 against 0.48 ms for the write; BENCHMARKS.md). The SQL is the
one in `one_statement.py`; the portable versions stay for SQLite.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from psycopg import Connection
from psycopg.types.json import Jsonb

from taskplatform.ledger.one_statement import CREATE, CREATE_MANY, FINISH, FINISH_MANY


def _driver_style(sql: str) -> str:
    """`:name` (SQLAlchemy) to `%(name)s` (psycopg); the SQL has no `::` casts."""
    return re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", sql)


_STATE_SQL = "SELECT state FROM task_records WHERE id = %(id)s"
_STATES_SQL = "SELECT id, state FROM task_records WHERE id = ANY(%(ids)s)"
_CREATE_SQL = _driver_style(CREATE)
_CREATE_MANY_SQL = _driver_style(CREATE_MANY)
_FINISH_SQL = _driver_style(FINISH)
_FINISH_MANY_SQL = _driver_style(FINISH_MANY)


def _json(value: Any) -> Jsonb | None:
    """JSON for a nullable column: None is SQL NULL."""
    return None if value is None else Jsonb(value)


def state_of(connection: Connection[Any], task_id: str) -> str | None:
    row = connection.execute(_STATE_SQL, {"id": task_id}).fetchone()
    return None if row is None else str(row[0])


def states_of(connection: Connection[Any], task_ids: list[str]) -> dict[str, str]:
    """The states of the records of these tasks (a task without a record is left out).

    Never a prepared statement: PostgreSQL would keep the generic plan it made while the table was small (a new
    database, or statistics from then) and scan the whole table for every batch as it grows, where a plan made
    for each call looks the ids up in the primary key (bench/ledger.py: 60 whole-table scans a second)."""
    rows = connection.execute(_STATES_SQL, {"ids": task_ids}, prepare=False)
    return {str(task_id): str(state) for task_id, state in rows}


def finish_short(connection: Connection[Any], *, task_id: str, name: str, queue: str | None, now: datetime,
                 started_at: datetime, runtime_s: float | None, result: Any,
                 started_detail: dict[str, Any] | None) -> str | None:
    """`short_path.finish_short` in one prepared statement (autocommit: the statement is its transaction)."""
    row = connection.execute(_FINISH_SQL, {
        "id": task_id, "name": name, "queue": queue, "now": now, "started_at": started_at, "runtime_s": runtime_s,
        "result": Jsonb(result), "started_detail": _json(started_detail)}).fetchone()
    return None if row is None or row[1] else str(row[0])


def create_queued(connection: Connection[Any], *, values: dict[str, Any]) -> bool:
    """`records.create_task_record` in one prepared statement, inside the caller's transaction; `values` are the
    statement's parameters, the JSON ones as Python values."""
    params = {**values, **{key: _json(values[key]) for key in ("params", "message", "arguments")}}
    return connection.execute(_CREATE_SQL, params).fetchone() is not None


def finish_many(connection: Connection[Any], *, rows: str, now: datetime) -> list[str]:
    """Many short tasks' SUCCESS (`one_statement.FINISH_MANY`; `rows` a JSON array) in one statement, autocommit:
    the ids written, the others held (CANCELED, or an earlier SUCCESS)."""
    return [str(row[0]) for row in connection.execute(_FINISH_MANY_SQL, {"rows": rows, "now": now})]


def create_queued_many(connection: Connection[Any], *, rows: str, now: datetime) -> None:
    """QUEUED records without an Idempotency-Key (`one_statement.CREATE_MANY`; `rows` a JSON array) in one
    statement, autocommit."""
    connection.execute(_CREATE_MANY_SQL, {"rows": rows, "now": now})
