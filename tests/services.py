"""Which real servers the tests can reach, and the record of groups that were skipped."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import pytest
from kombu import Connection
from sqlalchemy import create_engine, text

#: Defaults are the standard local ports; the environment overrides them.
RABBITMQ_URL = os.environ.get("TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")
#: An administrative connection: the tests create (and drop) a database of their own there.
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@dataclass
class ServiceRegistry:
    """Reachability of each service group, probed once per session."""

    reasons: dict[str, str | None] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    def probe(self, group: str) -> str | None:
        if group not in self.reasons:
            self.reasons[group] = _PROBES[group]()
        return self.reasons[group]

    def require(self, group: str) -> None:
        """Skip the calling test, loudly, when the group's server is unreachable."""
        reason = self.probe(group)
        if reason is not None:
            self.skipped[group] = reason
            pytest.skip(f"service group {group!r} unavailable: {reason}")


def _probe_rabbitmq() -> str | None:
    try:
        with Connection(RABBITMQ_URL, connect_timeout=3) as connection:
            connection.ensure_connection(max_retries=1, timeout=3)
        return None
    except Exception as exc:
        return f"{RABBITMQ_URL.split('@')[-1]}: {type(exc).__name__}: {exc}"


def _probe_postgres() -> str | None:
    try:
        engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:
        return f"{POSTGRES_URL.split('@')[-1]}: {type(exc).__name__}: {str(exc).splitlines()[0]}"


_PROBES = {"rabbitmq": _probe_rabbitmq, "postgres": _probe_postgres}

REGISTRY = ServiceRegistry()
