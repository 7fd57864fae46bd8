"""Migration 0005 on SQLite: idempotency keys get a scope and a request hash, and are unique per scope."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from taskplatform.core.db import make_engine

ROOT = Path(__file__).resolve().parents[2]
INSERT = text("INSERT INTO task_records (id, name, state, attempts, idempotency_key, created_at, updated_at)"
              " VALUES (:id, 'churn.retrain', 'QUEUED', 0, :key, '2026-01-01 00:00:00', '2026-01-01 00:00:00')")
INSERT_SCOPED = text("INSERT INTO task_records (id, name, state, attempts, idempotency_key, idempotency_scope,"
                     " created_at, updated_at) VALUES (:id, 'churn.retrain', 'QUEUED', 0, :key, :scope,"
                     " '2026-01-01 00:00:00', '2026-01-01 00:00:00')")


@pytest.fixture
def migrated_to_0004(tmp_path: Path) -> Iterator[tuple[Engine, Config]]:
    engine = make_engine(f"sqlite:///{tmp_path}/migrate.db")
    config = Config(str(ROOT / "alembic.ini"))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0004")
    yield engine, config
    engine.dispose()


def _migrate(engine: Engine, config: Config, to: str, *, down: bool = False) -> None:
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, to)


def test_keys_used_before_0005_stay_anonymous_and_keys_are_unique_per_scope(
        migrated_to_0004: tuple[Engine, Config]) -> None:
    engine, config = migrated_to_0004
    with engine.begin() as connection:
        connection.execute(INSERT, {"id": "old", "key": "k1"})
        connection.execute(INSERT, {"id": "unkeyed", "key": None})
    _migrate(engine, config, "0005")
    with engine.begin() as connection:
        scopes = dict(connection.execute(text("SELECT id, idempotency_scope FROM task_records")).all())
        assert scopes == {"old": "anonymous", "unkeyed": None}
        connection.execute(INSERT_SCOPED, {"id": "bob", "key": "k1", "scope": "key:bob"})
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(INSERT_SCOPED, {"id": "again", "key": "k1", "scope": "anonymous"})


def test_downgrade_keeps_the_oldest_use_of_a_key(migrated_to_0004: tuple[Engine, Config]) -> None:
    engine, config = migrated_to_0004
    _migrate(engine, config, "0005")
    with engine.begin() as connection:
        connection.execute(INSERT_SCOPED, {"id": "a", "key": "k1", "scope": "key:alice"})
        connection.execute(INSERT_SCOPED, {"id": "b", "key": "k1", "scope": "key:bob"})
    _migrate(engine, config, "0004", down=True)
    with engine.begin() as connection:
        keys = dict(connection.execute(text("SELECT id, idempotency_key FROM task_records")).all())
    assert keys == {"a": "k1", "b": None}  # same instant: the first id wins
