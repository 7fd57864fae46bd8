"""Database engine and sessions, one engine per process."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, ClassVar

from sqlalchemy import JSON, BigInteger, DateTime, Engine, Integer, MetaData, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from taskplatform.core.settings import get_settings

#: Stable constraint names, so Alembic migrations can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    # Every model here maps one Table (SQLAlchemy types it as any FromClause): Core statements on it type-check.
    __table__: ClassVar[Table]


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware.

    SQLite has no timestamp type: it keeps naive text, so values are converted to UTC
    before they are written and tagged as UTC when read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: attach a time zone before storing it")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


#: DATABASE_DEAD_PEER_S's default, for engines made outside the settings (benchmarks, test set-up).
DEFAULT_DEAD_PEER_S = 15.0


def make_engine(url: str, *, timeout_s: int | None = None, dead_peer_s: float = DEFAULT_DEAD_PEER_S) -> Engine:
    """An engine with the pragmas and pool options this platform relies on. `timeout_s` (PostgreSQL) bounds each
    connection attempt and each statement, for a caller that must not hang on an unreachable database (beat)."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # WAL lets the API read while a worker writes; foreign keys are off by default.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5,
                         connect_args=postgres_connect_args(dead_peer_s=dead_peer_s, timeout_s=timeout_s))


def postgres_connect_args(*, dead_peer_s: float, timeout_s: int | None = None) -> dict[str, Any]:
    """libpq options of every PostgreSQL connection: one whose server stopped answering (its link cut, its host
    gone) fails within DATABASE_DEAD_PEER_S instead of the kernel's minutes to hours, so a task retries with backoff
    and an API request answers. TCP keepalives catch a connection waiting for an answer, TCP_USER_TIMEOUT one whose
    sent data is not acknowledged, `connect_timeout` a connection attempt. A server busy with a long query still
    acknowledges both, so neither cuts it short. `timeout_s` (beat) also bounds each attempt and statement.
    The value is passed in, never read here: an engine made for another database (a benchmark's scratch one) must
    not load and cache the settings before the caller has set its environment."""
    dead_peer = dead_peer_s
    args: dict[str, Any] = {
        "connect_timeout": max(1, round(timeout_s or dead_peer)), "keepalives": 1,
        "keepalives_idle": max(1, round(dead_peer / 3)), "keepalives_interval": max(1, round(dead_peer / 6)),
        "keepalives_count": 3, "tcp_user_timeout": int(dead_peer * 1000)}
    if timeout_s is not None:
        args["options"] = f"-c statement_timeout={timeout_s * 1000}"
    return args


@lru_cache
def get_engine() -> Engine:
    settings = get_settings()
    return make_engine(settings.effective_database_url, dead_peer_s=settings.database_dead_peer_s)


@lru_cache
def session_factory() -> sessionmaker[Session]:
    """This process's sessions; `session_factory().begin()` is one transaction (for code that runs several)."""
    return sessionmaker(bind=get_engine(), expire_on_commit=False)


def new_session() -> Session:
    return session_factory()()


@contextmanager
def session_scope() -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    session = new_session()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def dialect_insert(session: Session, table: Any) -> Any:
    """`INSERT` with `ON CONFLICT` support for the session's database (PostgreSQL or SQLite)."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"database {name!r} is not supported (use PostgreSQL or SQLite)")


def reset_after_fork() -> None:
    """Drop pooled connections inherited from the parent process (never share them)."""
    if get_engine.cache_info().currsize:
        get_engine().dispose(close=False)


JSONType = JSON().with_variant(JSONB(), "postgresql")
#: SQLite only autoincrements an INTEGER PRIMARY KEY.
BigIntId = BigInteger().with_variant(Integer(), "sqlite")
