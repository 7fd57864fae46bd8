"""What every benchmark needs: a scratch PostgreSQL database, migrations, an object store, cleanup."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, text

from storage.s3 import S3Location
from taskplatform.core.db import make_engine
from taskplatform.dev.embedded import ensure_bucket_ready, start_weed_mini
from taskplatform.dev.processes import Supervisor

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class BenchEnvironment:
    broker_url: str
    database_url: str
    #: The environment the platform's processes get (the scratch database, the object store).
    env: dict[str, str]
    supervisor: Supervisor
    location: S3Location | None


def scratch_database(admin_url: str) -> tuple[str, Engine]:
    name = f"tp_bench_{uuid.uuid4().hex[:8]}"
    admin = make_engine(admin_url).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    return admin_url.rsplit("/", 1)[0] + f"/{name}", admin


def drop_database(admin: Engine, url: str) -> None:
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))


@contextmanager
def bench_environment(name: str, *, object_store: bool, amqp_only: bool = False) -> Iterator[BenchEnvironment]:
    """Check BROKER_URL and DATABASE_URL, create and migrate a scratch database next to DATABASE_URL,
    start `weed mini` unless S3_ENDPOINT_URL is set, and undo all of it on exit, SIGTERM included."""
    broker_url, admin_url = os.environ.get("BROKER_URL", ""), os.environ.get("DATABASE_URL", "")
    if not broker_url or (amqp_only and not broker_url.startswith("amqp")) or not admin_url.startswith("postgresql"):
        sys.exit(f"set BROKER_URL ({'RabbitMQ' if amqp_only else 'RabbitMQ or Redis'}) and DATABASE_URL (PostgreSQL)")
    # SIGTERM would end Python without running `finally`, leaving servers and the database behind.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    supervisor = Supervisor(log_dir=ROOT / "var" / "bench-logs" / name)
    database_url, admin = scratch_database(admin_url)
    env = {**os.environ, "DATABASE_URL": database_url, "TASKPLATFORM_ENV_FILE": ""}
    s3_dir: Path | None = None
    try:
        location = None
        if object_store:
            if not env.get("S3_ENDPOINT_URL"):
                s3_dir = Path(tempfile.mkdtemp(prefix="bench-s3-"))
                s3 = start_weed_mini(supervisor, data_dir=s3_dir, access_key="benchkey",
                                     secret_key="bench-secret-key")
                env.update(S3_ENDPOINT_URL=s3.endpoint_url, S3_ACCESS_KEY=s3.access_key, S3_SECRET_KEY=s3.secret_key)
            location = S3Location(env["S3_ENDPOINT_URL"], env.get("S3_ACCESS_KEY"), env.get("S3_SECRET_KEY"),
                                  env.get("S3_REGION", "us-east-1"), env.get("S3_BUCKET", "ux-auditor-sessions"))
            ensure_bucket_ready(location)
        subprocess.run([sys.executable, "-m", "alembic", "upgrade", "head"], env=env, cwd=ROOT, check=True,
                       capture_output=True)
        yield BenchEnvironment(broker_url, database_url, env, supervisor, location)
    finally:
        supervisor.stop_all()
        drop_database(admin, database_url)
        admin.dispose()
        if s3_dir is not None:
            shutil.rmtree(s3_dir, ignore_errors=True)
