"""The hosts of `make test-hosts`: a three-node RabbitMQ cluster, PostgreSQL, the object store, the API and the
worker hosts, each in a network namespace of its own, reaching the others only over its link to the bridge.

Data live in a temporary directory removed at the end; each process's log is kept in `var/hosts-last-run/` (one
run's, replaced by the next) for a failure to be read afterwards.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from celery import Celery
from sqlalchemy import Engine

from storage.s3 import S3Location
from taskplatform.core.db import make_engine
from taskplatform.dev.embedded import ensure_bucket_ready, port_open, start_weed_mini
from taskplatform.dev.processes import Supervisor, api_command, wait_until, worker_command
from taskplatform.messaging.queues import build_task_queues
from tests.hosts.network import Network, remove_leftovers
from tests.hosts.postgres import start_postgres
from tests.hosts.rabbit import RabbitCluster
from tests.integration.stack import ROOT, migrate, platform_env

logger = logging.getLogger("tests.hosts")

RABBIT_HOSTS = {"rmq1": "10.213.0.11", "rmq2": "10.213.0.12", "rmq3": "10.213.0.13"}
POSTGRES_HOST = ("pg", "10.213.0.20")
S3_HOST = ("s3", "10.213.0.30")
API_HOST = ("api", "10.213.0.40")
WORKER_HOSTS = {"w1": "10.213.0.51", "w2": "10.213.0.52", "w3": "10.213.0.53"}
API_PORT = 8000
S3_BUCKET = "ux-auditor-sessions"
TEMP_PREFIX = "taskplatform-hosts-"
LOCK = Path("/run/lock/taskplatform-hosts.lock")
LOGS = ROOT / "var" / "hosts-last-run"

#: A worker host cut off is noticed by the broker after about two heartbeats (a few seconds here).
HEARTBEAT_S = 4
#: The longest task of this run (hard time limit), and how long RabbitMQ lets a delivery go unacknowledged: the
#: longest task plus its worker's prefetch of short tasks ahead of it (seconds) and a margin, never less, or a
#: task that runs long would be handed to a second worker while the first still runs it.
TASK_TIME_LIMIT_S = 120
CONSUMER_TIMEOUT_MS = (TASK_TIME_LIMIT_S + 60) * 1000


@contextlib.contextmanager
def exclusive_run() -> Iterator[None]:
    """One harness at a time on this machine: the leftovers cleanup would otherwise remove another run's hosts."""
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    with LOCK.open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(f"another `make test-hosts` holds {LOCK}; run one at a time") from None
        yield


def remove_stale_temp_dirs() -> list[str]:
    """Temporary directories of earlier runs (only called under the lock, after their processes are gone)."""
    removed = []
    for path in Path(tempfile.gettempdir()).glob(f"{TEMP_PREFIX}*"):
        shutil.rmtree(path, ignore_errors=True)
        removed.append(str(path))
    return removed


@dataclass
class Hosts:
    """The running hosts. `env` is what every platform process gets; `db` reads the ledger directly."""

    root: Path
    network: Network = field(default_factory=Network)
    supervisor: Supervisor = field(default_factory=lambda: Supervisor(log_dir=LOGS))
    env: dict[str, str] = field(default_factory=dict)
    rabbit: RabbitCluster = field(init=False)
    db: Engine = field(init=False)
    api: httpx.Client = field(init=False)
    producer: Celery = field(init=False)
    workers: list[str] = field(default_factory=list)

    # Building ------------------------------------------------------------------------------------------------
    def build(self, *, workers: tuple[str, ...] = ("w1", "w2")) -> None:
        self.network.create()
        for host, address in {**RABBIT_HOSTS, POSTGRES_HOST[0]: POSTGRES_HOST[1], S3_HOST[0]: S3_HOST[1],
                              API_HOST[0]: API_HOST[1], **WORKER_HOSTS}.items():
            self.network.add_host(host, address)
        self.rabbit = RabbitCluster(self.network, self.supervisor, self.root / "rabbit", CONSUMER_TIMEOUT_MS)
        for host in RABBIT_HOSTS:
            self.rabbit.add(host)
        self.rabbit.start()
        database_url = start_postgres(self.network, self.supervisor, host=POSTGRES_HOST[0],
                                      data=self.root / "postgres")
        s3 = start_weed_mini(self.supervisor, data_dir=self.root / "s3", access_key="hostskey",
                             secret_key=os.urandom(12).hex(), name="weed", ip=S3_HOST[1],
                             launcher=self.network.run_in(S3_HOST[0], []))
        ensure_bucket_ready(S3Location(s3.endpoint_url, s3.access_key, s3.secret_key, "us-east-1", S3_BUCKET))
        self.env = platform_env(
            BROKER_URL=self.rabbit.broker_url, DATABASE_URL=database_url, S3_ENDPOINT_URL=s3.endpoint_url,
            S3_ACCESS_KEY=s3.access_key, S3_SECRET_KEY=s3.secret_key, S3_BUCKET=S3_BUCKET,
            BROKER_HEARTBEAT=str(HEARTBEAT_S), TASK_TIME_LIMIT=str(TASK_TIME_LIMIT_S),
            TASK_SOFT_TIME_LIMIT=str(TASK_TIME_LIMIT_S - 20), WORKER_CONCURRENCY="2",
            VAR_DIR=str(self.root / "var"))
        migrate(self.env)
        self.db = make_engine(database_url)
        self.producer = Celery("hosts-probe", broker=self.rabbit.broker_url)
        self.producer.conf.update(task_queues=build_task_queues("amqp"), task_serializer="json",
                                  broker_transport_options={"confirm_publish": True})
        self.declare_queues()
        self.start_api()
        for host in workers:
            self.start_worker(host)

    def declare_queues(self) -> None:
        """Every task queue, as a deployment has them before its workers start: a worker binds each one to the
        delayed-delivery exchanges, also those it does not consume."""
        with self.producer.connection_for_write() as connection:
            channel = connection.default_channel
            for queue in build_task_queues("amqp"):
                queue.bind(channel).declare()

    def host_env(self, host: str) -> dict[str, str]:
        return {**self.env, "VAR_DIR": str(self.root / "var" / host)}

    def start_api(self) -> None:
        host, address = API_HOST
        self.supervisor.start("api", self.network.run_in(host, api_command(host=address, port=API_PORT)),
                              env=self.host_env(host), cwd=ROOT, stop_timeout=20)
        self.api = httpx.Client(base_url=f"http://{address}:{API_PORT}", timeout=30)
        wait_until(lambda: self.api.get("/").status_code == 200, timeout=90, interval=0.3, what="the API host")

    def worker_node(self, host: str) -> str:
        return f"{host}@hosts"

    def start_worker(self, host: str, *, queues: tuple[str, ...] = ("checkins",), concurrency: int = 2,
                     wait: bool = True) -> None:
        argv = worker_command(queues=queues, concurrency=concurrency, name=self.worker_node(host),
                              extra=("--without-gossip", "--without-mingle"))
        self.supervisor.start(f"worker-{host}", self.network.run_in(host, argv), env=self.host_env(host), cwd=ROOT,
                              stop_timeout=30)
        self.workers.append(host)
        if wait:
            wait_until(lambda: self.worker_answers(host), timeout=120, interval=0.5, what=f"worker on {host}")

    def worker_answers(self, host: str) -> bool:
        node = self.worker_node(host)
        return bool(self.producer.control.ping(destination=[node], timeout=1.0))

    def stop_worker(self, host: str) -> None:
        self.supervisor.stop(f"worker-{host}")
        self.workers.remove(host)

    def start_beat(self, host: str, *, app: str = "taskplatform", **extra_env: str) -> None:
        """Celery beat on `host` (any host: fault two-beats runs two), with the platform's scheduler."""
        schedule = self.root / "var" / host / "celerybeat-schedule"
        schedule.parent.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "celery", "-A", app, "beat", "-s", str(schedule), "-l", "info"]
        self.supervisor.start(f"beat-{host}", self.network.run_in(host, argv),
                              env={**self.host_env(host), **extra_env}, cwd=ROOT, stop_timeout=20)

    # Faults ----------------------------------------------------------------------------------------------------
    def cut(self, host: str) -> None:
        self.network.cut(host)

    def restore(self, host: str) -> None:
        self.network.restore(host)

    def reachable(self, address: str, port: int) -> bool:
        return port_open(port, address)

    # Teardown --------------------------------------------------------------------------------------------------
    def close(self) -> None:
        # The test's own database connections go first: PostgreSQL's SIGTERM waits for its clients to leave.
        for close in (lambda: self.db.dispose(), lambda: self.api.close(), lambda: self.producer.close(),
                      self.supervisor.stop_all):
            with contextlib.suppress(Exception):
                close()


@contextlib.contextmanager
def running_hosts(*, workers: tuple[str, ...] = ("w1", "w2")) -> Iterator[Hosts]:
    """Build the hosts (after removing a previous run's leftovers) and remove every trace of them afterwards,
    also when the run fails or is interrupted."""
    with exclusive_run():
        for what in [*remove_leftovers(), *remove_stale_temp_dirs()]:
            logger.warning("removed a leftover of an earlier run: %s", what)
        shutil.rmtree(LOGS, ignore_errors=True)
        root = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX))
        root.chmod(0o711)  # the postgres user must reach its data directory inside
        hosts = Hosts(root=root)
        try:
            hosts.build(workers=workers)
            yield hosts
        finally:
            hosts.close()
            remove_leftovers()
            shutil.rmtree(root, ignore_errors=True)


def log_tail(name: str, lines: int = 30) -> str:
    path = LOGS / f"{name}.log"
    if not path.exists():
        return f"({path} does not exist)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
