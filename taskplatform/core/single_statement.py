"""Sessions for work that is one statement, atomic on its own: the worker's ledger reads and writes on its hot path.

On PostgreSQL such a session runs in autocommit on a connection that is not pinged when taken from the pool: one
round trip, where `session_scope()` spends four (the pool's ping, BEGIN, the statement, COMMIT). Without the ping
a connection the server dropped (a restart) fails once: `run_single_statement` then takes a fresh one and tries
again. On SQLite (several statements, no network) it is `session_scope()`. `run_on_driver` goes one step further
for the few statements every task runs: the driver's connection, no Session.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, TypeVar, cast

import psycopg
from sqlalchemy import Engine, create_engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from taskplatform.core.db import get_engine, postgres_connect_args, session_scope
from taskplatform.core.settings import get_settings

T = TypeVar("T")


@lru_cache
def _autocommit_engine() -> Engine:
    return create_engine(get_engine().url, isolation_level="AUTOCOMMIT", pool_size=2, max_overflow=2,
                         connect_args=postgres_connect_args(dead_peer_s=get_settings().database_dead_peer_s))


def reset_single_statement_after_fork() -> None:
    """Drop pooled connections inherited from the parent process (never share them)."""
    if _autocommit_engine.cache_info().currsize:
        _autocommit_engine().dispose(close=False)


def single_statement_capable() -> bool:
    """True when a one-statement write is atomic in autocommit (PostgreSQL's CTEs)."""
    return get_engine().dialect.name == "postgresql"


@contextmanager
def single_statement_session() -> Iterator[Session]:
    """A session whose work commits statement by statement on PostgreSQL; `session_scope()` elsewhere."""
    if not single_statement_capable():
        with session_scope() as session:
            yield session
        return
    with _autocommit_engine().connect() as connection, Session(bind=connection) as session:
        yield session


def run_single_statement(work: Callable[[Session], T]) -> T:
    """`work` in a single-statement session, once more on a fresh connection if the first was found dropped."""
    try:
        with single_statement_session() as session:
            return work(session)
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
    with single_statement_session() as session:
        return work(session)


def run_on_driver(work: Callable[[psycopg.Connection[Any]], T]) -> T:
    """`work` on a pooled PostgreSQL connection in autocommit, through the driver itself (psycopg): for the
    statements every task runs (taskplatform/ledger/driver_path.py). A connection the server dropped is
    discarded and `work` runs once more on a fresh one."""
    for attempt in (1, 2):
        pooled = _autocommit_engine().raw_connection()
        try:
            return work(cast("psycopg.Connection[Any]", pooled.driver_connection))
        except psycopg.OperationalError:
            pooled.invalidate()
            if attempt == 2:
                raise
        finally:
            pooled.close()
    raise AssertionError("unreachable")
