"""Integration fixtures: embedded Valkey and `weed mini`, and one stack per broker/database pair."""

from __future__ import annotations

import hashlib
import os
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from storage.s3 import S3Location
from taskplatform.dev.embedded import ensure_bucket_ready, free_port, start_valkey, start_weed_mini
from taskplatform.dev.processes import Supervisor
from tests.integration.stack import Stack, new_stack
from tests.services import POSTGRES_URL, RABBITMQ_URL, REGISTRY

#: Broker and database of each stack; every broker-facing test runs on each.
STACKS = {
    "redis-sqlite": ("redis", "sqlite"),
    "redis-postgres": ("redis", "postgres"),
    "rabbitmq-postgres": ("rabbitmq", "postgres"),
}
S3_BUCKET = "ux-auditor-sessions"


@dataclass
class Embedded:
    """The embedded servers of the session; the object store can be stopped and started again."""

    supervisor: Supervisor
    root: Path
    redis_url: str
    s3_env: dict[str, str]
    s3_port: int

    def stop_s3(self) -> None:
        self.supervisor.stop("weed")

    def start_s3(self) -> None:
        start_weed_mini(self.supervisor, data_dir=self.root / "s3", access_key=self.s3_env["S3_ACCESS_KEY"],
                        secret_key=self.s3_env["S3_SECRET_KEY"], s3_port=self.s3_port)
        ensure_bucket_ready(S3Location(self.s3_env["S3_ENDPOINT_URL"], self.s3_env["S3_ACCESS_KEY"],
                                       self.s3_env["S3_SECRET_KEY"], "us-east-1", S3_BUCKET))


@pytest.fixture(scope="session")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Embedded]:
    """Valkey (the Redis broker, unless TEST_REDIS_URL is set) and `weed mini` (S3)."""
    root = tmp_path_factory.mktemp("embedded")
    supervisor = Supervisor(log_dir=root / "logs")
    try:
        redis_url = os.environ.get("TEST_REDIS_URL") or start_valkey(supervisor, data_dir=root / "valkey")
        s3_port = free_port()
        s3 = start_weed_mini(supervisor, data_dir=root / "s3", access_key="testkey",
                             secret_key="test-secret-" + uuid.uuid4().hex[:8], s3_port=s3_port)
        ensure_bucket_ready(S3Location(s3.endpoint_url, s3.access_key, s3.secret_key, "us-east-1", S3_BUCKET))
        yield Embedded(supervisor, root, redis_url.rsplit("/", 1)[0],
                       {"S3_ENDPOINT_URL": s3.endpoint_url, "S3_ACCESS_KEY": s3.access_key,
                        "S3_SECRET_KEY": s3.secret_key, "S3_BUCKET": S3_BUCKET}, s3_port)
    finally:
        supervisor.stop_all()


@pytest.fixture(scope="session")
def textgen_model() -> str:
    """The tiny offline GPT-2 (about 20 s of CPU to build), built once and kept between runs under a key of
    everything that goes into it; test workers running in parallel wait for the one that builds it."""
    import tempfile

    import torch
    import transformers
    from filelock import FileLock

    from ml import textgen_build

    ingredients = hashlib.sha256()
    for part in (Path(textgen_build.__file__).read_bytes(), textgen_build.DEFAULT_CORPUS.read_bytes(),
                 transformers.__version__.encode(), torch.__version__.encode()):
        ingredients.update(part)
    key = ingredients.hexdigest()[:16]
    cache = Path(tempfile.gettempdir()) / f"taskplatform-test-models-{os.getuid()}"
    cache.mkdir(mode=0o700, exist_ok=True)
    with FileLock(cache / f"tiny-gpt2-{key}.lock"):
        return str(textgen_build.build_tiny_model(cache / f"tiny-gpt2-{key}"))


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh database for one stack, dropped afterwards."""
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    name = f"tp_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session", params=list(STACKS))
def stack(request: pytest.FixtureRequest, embedded: Embedded, textgen_model: str,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    name: str = request.param
    broker, database = STACKS[name]
    for group in {broker, database} - {"redis", "sqlite"}:
        REGISTRY.require(group)
    root = tmp_path_factory.mktemp(name)
    broker_url = RABBITMQ_URL if broker == "rabbitmq" else f"{embedded.redis_url}/{list(STACKS).index(name)}"
    s3 = embedded.s3_env
    database_cm = postgres_database() if database == "postgres" else nullcontext(f"sqlite:///{root / 'db.sqlite3'}")
    with database_cm as database_url:
        running = new_stack(name, broker_url=broker_url, broker_kind="amqp" if broker == "rabbitmq" else "redis",
                            database_url=database_url, s3=s3, log_dir=root / "logs",
                            extra_env={"TEXTGEN_MODEL": textgen_model})
        try:
            yield running
        finally:
            running.close()


@pytest.fixture(autouse=True)
def _stack_worker_restored(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that stops or kills its stack's worker and fails before starting it again would leave every later
    test of the stack without a worker (each then fails on its own timeout); the next test finds it running."""
    yield
    if "stack" in request.fixturenames:
        stack: Stack = request.getfixturevalue("stack")
        if stack.ensure_worker():
            warnings.warn(f"{request.node.nodeid} left the {stack.name} worker stopped; started it again",
                          stacklevel=1)
