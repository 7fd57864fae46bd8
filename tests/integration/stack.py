"""A real platform for integration tests: API and worker processes on real servers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from celery import Celery
from sqlalchemy import Engine

from taskplatform.core.db import make_engine
from taskplatform.dev.embedded import free_port, start_listening
from taskplatform.dev.processes import Supervisor, api_command, wait_until, worker_command
from taskplatform.messaging.queues import DEAD_LETTER_QUEUE, TASK_QUEUES, build_task_queues

ROOT = Path(__file__).resolve().parents[2]
RAW_QUEUES = ("rasp_data", "raw_sessions", "raw_sessions.dlq", DEAD_LETTER_QUEUE)
FINAL = {"SUCCESS", "FAILURE", "REVOKED", "CANCELED"}
#: Variables of the platform that must not leak from the developer's shell into a stack.
PLATFORM_VARS = ("BROKER_URL", "RABBITMQ_URL", "RABBITMQ_HOST", "RABBITMQ_PORT", "RABBITMQ_USER",
                 "RABBITMQ_PASSWORD", "REDIS_URL", "RESULT_BACKEND", "DATABASE_URL", "S3_ENDPOINT_URL",
                 "S3_ACCESS_KEY", "S3_SECRET_KEY", "S3_BUCKET", "GARAGE_ENDPOINT", "GARAGE_ACCESS_KEY",
                 "GARAGE_SECRET_KEY", "GARAGE_BUCKET", "API_KEYS", "ENVIRONMENT", "FLOWER_BASIC_AUTH",
                 "API_READ_KEYS", "JWT_SECRET", "JWT_JWKS_FILE", "JWT_AUDIENCE", "JWT_ISSUER", "API_DOCS",
                 "TEXTGEN_PUBLIC", "TEXTGEN_PUBLIC_RATE",
                 "MODELS_S3_BUCKET", "MODELS_S3_ACCESS_KEY", "MODELS_S3_SECRET_KEY", "MODELS_REQUIRE_SHA256",
                 "MODELS_UNPICKLE", "RABBITMQ_DEVICE_USER", "RABBITMQ_DEVICE_PASSWORD", "RABBITMQ_MANAGEMENT_URL")


def platform_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in PLATFORM_VARS}
    env.update(TASKPLATFORM_ENV_FILE="", PYTHONUNBUFFERED="1", **values)
    return env


@dataclass
class Stack:
    """One running platform: `api` is an HTTP client of its API."""

    name: str
    broker_kind: str
    env: dict[str, str]
    engine: Engine
    supervisor: Supervisor
    api: httpx.Client = field(init=False)
    policy_problem: str | None = field(default=None, init=False)
    api_url: str = field(init=False)
    worker_name: str = field(init=False)

    def __post_init__(self) -> None:
        self.worker_name = f"{self.name}@test"
        self.producer = Celery("test-producer", broker=self.env["BROKER_URL"])
        self.producer.conf.update(task_queues=build_task_queues(self.broker_kind), task_serializer="json",
                                  broker_transport_options={"confirm_publish": True}
                                  if self.broker_kind == "amqp" else {})

    # Processes ------------------------------------------------------------------------
    def start_worker(self, *, queues: tuple[str, ...] = TASK_QUEUES, concurrency: int = 2, process: str = "worker",
                     args: tuple[str, ...] = (), wait: bool = True, **extra_env: str) -> None:
        """Start the stack's worker, or with `process` another one (node `<stack>-<process>@test`); `args` are
        more `celery worker` options. `wait=False` returns at once, before the worker answers a ping."""
        node = self.worker_name if process == "worker" else f"{self.name}-{process}@test"
        self.supervisor.start(process, worker_command(queues=queues, concurrency=concurrency, name=node,
                                                      extra=("--without-gossip", "--without-mingle", *args)),
                              env={**self.env, **extra_env}, cwd=ROOT, stop_timeout=30)
        if wait:
            wait_until(lambda: self._worker_answers(node), timeout=60, interval=0.3, what=f"worker {node}")

    def ensure_worker(self) -> bool:
        """Start the stack's worker again if a test left it stopped or dead; True when it had to."""
        try:
            managed = self.supervisor.get("worker")
        except StopIteration:
            managed = None
        if managed is not None and managed.popen.poll() is None:
            return False
        if managed is not None:
            self.supervisor.stop("worker")  # forgets the dead one
        self.start_worker()
        return True

    def _worker_answers(self, node: str) -> bool:
        return bool(self.producer.control.ping(destination=[node], timeout=0.5))

    def kill_worker(self) -> None:
        self.supervisor.kill("worker")

    def stop_worker(self, process: str = "worker") -> None:
        self.supervisor.stop(process)

    def start_api(self, *, name: str = "api", **extra_env: str) -> httpx.Client:
        def command() -> tuple[list[str], int]:
            port = free_port()
            return api_command(host="127.0.0.1", port=port), port

        # Started again on another port if the chosen one was taken before uvicorn bound it (parallel test runs).
        port = start_listening(self.supervisor, name, command, env={**self.env, **extra_env}, cwd=ROOT,
                               stop_timeout=20, timeout=60, what=name)
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
        wait_until(lambda: client.get("/").status_code == 200, timeout=60, interval=0.2, what=f"{name} on {port}")
        return client

    def open_api(self) -> None:
        self.api = self.start_api()
        self.api_url = str(self.api.base_url)

    # Helpers for tests -----------------------------------------------------------------
    def wait_task(self, task_id: str, *, timeout: float = 60) -> dict[str, Any]:
        """Poll `/tarefa/{id}` until the task reaches a final state."""
        record: dict[str, Any] = {}

        def done() -> bool:
            nonlocal record
            record = self.api.get(f"/tarefa/{task_id}").json()
            return record.get("state") in FINAL

        try:
            wait_until(done, timeout=timeout, interval=0.1, what=f"task {task_id}")
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}; last seen: {record.get('state') or record}") from None
        return record

    def wait_tasks(self, task_ids: list[str], *, timeout: float) -> list[dict[str, Any]]:
        """Wait for every task to finish, sweeping for lost messages on Redis as beat does in production."""

        def all_done() -> bool:
            if self.broker_kind == "redis":
                self.producer.send_task("maintenance.redeliver_lost", queue="reports")
            return all(self.api.get(f"/tarefa/{t}").json().get("state") in FINAL for t in task_ids)

        wait_until(all_done, timeout=timeout, interval=3, what=f"{len(task_ids)} tasks to finish")
        return [self.api.get(f"/tarefa/{t}").json() for t in task_ids]

    def send_raw(self, name: str, kwargs: dict[str, Any], task_id: str, queue: str) -> None:
        """Publish a task as a producer outside the API would (no ledger record first)."""
        self.producer.send_task(name, kwargs=kwargs, task_id=task_id, queue=queue)

    def close(self) -> None:
        self.supervisor.stop_all()
        self.producer.close()
        self.engine.dispose()


def migrate(env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-m", "alembic", "upgrade", "head"], env=env, cwd=ROOT, check=True,
                   capture_output=True)


def delete_task_queues(broker_url: str) -> None:
    """Start RabbitMQ tests from empty queues (left-overs of an earlier run would run here)."""
    from kombu import Connection

    with Connection(broker_url) as connection:
        for queue in (*TASK_QUEUES, *RAW_QUEUES):
            channel = connection.channel()
            try:
                channel.queue_delete(queue)
            finally:
                channel.close()


def new_stack(name: str, *, broker_url: str, broker_kind: str, database_url: str, s3: dict[str, str],
              log_dir: Path, extra_env: dict[str, str] | None = None) -> Stack:
    env = platform_env(BROKER_URL=broker_url, DATABASE_URL=database_url, VAR_DIR=str(log_dir / "var"),
                       BROKER_VISIBILITY_TIMEOUT="10", BROKER_UNACKED_RESTORE_INTERVAL="1", TASK_REDELIVER_AFTER="30",
                       **s3, **(extra_env or {}))
    migrate(env)
    policies = None
    if broker_kind == "amqp":
        delete_task_queues(broker_url)
        policies = apply_policies(broker_url)
    stack = Stack(name=name, broker_kind=broker_kind, env=env, engine=make_engine(database_url),
                  supervisor=Supervisor(log_dir=log_dir))
    stack.policy_problem = policies
    try:
        stack.start_worker()
        stack.open_api()
    except BaseException:
        stack.close()
        raise
    return stack


def apply_policies(broker_url: str) -> str | None:
    """Attach the dead-letter policies with rabbitmqctl on the broker URL's vhost; the reason when that is
    not possible here."""
    import shutil
    from urllib.parse import unquote, urlsplit

    from taskplatform.dev.rabbitmq_policies import apply_with_rabbitmqctl

    if not shutil.which("rabbitmqctl"):
        return "rabbitmqctl is not on this machine (the broker is elsewhere)"
    try:
        apply_with_rabbitmqctl(unquote(urlsplit(broker_url).path[1:]) or "/")
    except subprocess.CalledProcessError as exc:
        return f"rabbitmqctl set_policy failed: {exc.stderr.decode(errors='replace').strip()[:200]}"
    return None


def elapsed(start: float) -> float:
    return time.monotonic() - start
