"""`/tarefas` paged by its cursor (`proximo`), and its total exact or estimated (`total_estimado`)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, insert, text

from taskplatform.ledger.models import TaskRecord
from tests.integration.stack import Stack


def _add(stack: Stack, name: str, ids: list[str], at: list[datetime]) -> None:
    with stack.engine.begin() as connection:
        connection.execute(insert(TaskRecord), [
            {"id": i, "name": name, "queue": "reports", "state": "SUCCESS", "attempts": 1, "created_at": t,
             "updated_at": t} for i, t in zip(ids, at, strict=True)])


def _drop(stack: Stack, name: str) -> None:
    with stack.engine.begin() as connection:
        connection.execute(delete(TaskRecord).where(TaskRecord.name == name))


def test_cursor_pages_give_every_record_once_while_new_ones_arrive(stack: Stack) -> None:
    """Breach caught: a page that repeats or skips a record when tasks are created between two pages (what an
    offset does), or that breaks ties of created_at by anything but the id."""
    name = f"paging.{uuid.uuid4().hex[:8]}"
    start = datetime.now(UTC) - timedelta(hours=1)
    original = [f"p{n:02d}-{uuid.uuid4().hex[:6]}" for n in range(23)]
    _add(stack, name, original, [start + timedelta(seconds=n // 3) for n in range(23)])  # threes share an instant
    try:
        walked: list[str] = []
        cursor: str | None = None
        for page_number in range(10):
            params: dict[str, Any] = {"name": name, "limit": 5, **({"cursor": cursor} if cursor else {})}
            page = stack.api.get("/tarefas", params=params).json()
            walked += [item["task_id"] for item in page["items"]]
            assert page["total_estimado"] is False
            if page_number == 0:
                assert page["total"] == 23
            cursor = page["proximo"]
            if cursor is None:
                break
            # Two newer tasks arrive before the next page is asked for (an offset would shift by two).
            _add(stack, name, [f"new{page_number}-{uuid.uuid4().hex[:6]}" for _ in range(2)],
                 [datetime.now(UTC), datetime.now(UTC)])
        assert cursor is None, "the pages never ended"
        assert len(walked) == len(set(walked)) == 23
        newest_first = sorted(original, key=lambda i: (int(i[1:3]) // 3, i), reverse=True)
        assert walked == newest_first
    finally:
        _drop(stack, name)


@pytest.mark.parametrize("cursor", ["nonsense", "%%%", "MjAyNi0wMS0wMQ", "x" * 300])
def test_a_cursor_this_api_did_not_hand_out_is_a_422_naming_it(stack: Stack, cursor: str) -> None:
    response = stack.api.get("/tarefas", params={"cursor": cursor})
    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [["query", "cursor"]]


def test_a_large_total_is_an_estimate_and_says_so(stack: Stack) -> None:
    """Breach caught: a total that counts a large listing row by row, or that passes an estimate off as exact."""
    if stack.engine.dialect.name != "postgresql":
        pytest.skip("SQLite counts exactly")
    name = f"estimate.{uuid.uuid4().hex[:8]}"
    with stack.engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO task_records (id, name, queue, state, attempts, created_at, updated_at) "
            "SELECT :name || '-' || g, :name, 'reports', 'SUCCESS', 1, now(), now() FROM generate_series(1, 12000) g"),
            {"name": name})
    try:
        with stack.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("ANALYZE task_records"))
        big = stack.api.get("/tarefas", params={"name": name, "limit": 1}).json()
        assert big["total_estimado"] is True and big["total"] >= 10_000
    finally:
        _drop(stack, name)
        # The statistics forget these rows too: later tests' small listings are counted exactly again.
        with stack.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("ANALYZE task_records"))
