"""The worker's batched state read on a real PostgreSQL is planned for each call, never kept as a prepared
statement: a generic plan made while `task_records` was small (a new database, or statistics from then) kept
scanning the whole table for every batch as it grew (bench/ledger.py: 60 whole-table scans a second)."""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime

import psycopg

from taskplatform.ledger import driver_path
from tests.integration.conftest import postgres_database
from tests.integration.stack import migrate
from tests.services import REGISTRY


def test_the_state_read_is_never_a_prepared_statement() -> None:
    REGISTRY.require("postgres")
    with postgres_database() as url:
        migrate({**os.environ, "DATABASE_URL": url})
        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as connection:
            ids = [str(uuid.uuid4()) for _ in range(3)]
            for _ in range(3 * (connection.prepare_threshold or 5)):  # well past psycopg's prepare threshold
                assert driver_path.states_of(connection, ids) == {}
            prepared = connection.execute("SELECT statement FROM pg_prepared_statements").fetchall()
            assert not [s for (s,) in prepared if "task_records" in s]
            # The same connection's hot writes stay prepared: only the read is singled out.
            for _ in range(3 * (connection.prepare_threshold or 5)):
                driver_path.create_queued_many(connection, rows=json.dumps([{"id": str(uuid.uuid4()), "name": "n"}]),
                                               now=datetime.now(UTC))
            prepared = connection.execute("SELECT statement FROM pg_prepared_statements").fetchall()
            assert [s for (s,) in prepared if "INSERT INTO task_records" in s]
