"""The worker liveness probe against a real RabbitMQ and a real worker (`python -m
taskplatform.messaging.liveness_probe`, what Kubernetes runs in docker/k8s/): alive while the worker consumes or its
queue is idle, stuck once messages wait and the worker takes none, alive again when it resumes."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from celery import Celery

from taskplatform.dev.processes import Supervisor, wait_until, worker_command
from taskplatform.messaging.queues import build_task_queues
from tests.integration.stack import migrate, platform_env
from tests.services import RABBITMQ_URL, REGISTRY

ROOT = Path(__file__).resolve().parents[2]
#: A vhost of this module's own: the RabbitMQ stack's worker consumes `checkins` on the test vhost and would take
#: the messages this module leaves waiting.
VHOST = f"tp-test-liveness-{secrets.token_hex(4)}"
NODE = "liveness@test"
STALE_AFTER = 3.0


@dataclass
class Worker:
    env: dict[str, str]
    supervisor: Supervisor
    producer: Celery

    @property
    def pid(self) -> int:
        return self.supervisor.get("worker").popen.pid

    def probe(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "taskplatform.messaging.liveness_probe", "--node", NODE],
                              env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=60)

    def publish(self, count: int) -> None:
        for _ in range(count):
            self.producer.send_task("checkins.ingest_batch", kwargs={"aluno_ids": [], "instants": []},
                                    queue="checkins")

    def ready(self) -> int:
        with self.producer.connection_for_write() as connection:
            return int(connection.default_channel.queue_declare(queue="checkins", passive=True).message_count)


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    """One worker on `checkins`, writing its liveness file every 0.5 s, judged stuck after 3 s."""
    REGISTRY.require("rabbitmq")
    if not shutil.which("rabbitmqctl"):
        pytest.skip("rabbitmqctl is not on this machine (the broker is elsewhere)")
    parts = urlsplit(RABBITMQ_URL)
    _rabbitmqctl("add_vhost", VHOST)
    _rabbitmqctl("set_permissions", "-p", VHOST, parts.username or "guest", ".*", ".*", ".*")
    root = tmp_path_factory.mktemp("liveness")
    broker_url = parts._replace(path="/" + quote(VHOST, safe="")).geturl()
    env = platform_env(BROKER_URL=broker_url, VAR_DIR=str(root / "var"),
                       DATABASE_URL=f"sqlite:///{root / 'ledger.sqlite3'}",
                       WORKER_LIVENESS_DIR=str(root / "liveness"), WORKER_LIVENESS_INTERVAL_S="0.5",
                       WORKER_LIVENESS_STALE_AFTER_S=str(STALE_AFTER))
    supervisor = Supervisor(log_dir=root / "logs")
    producer = Celery("liveness-producer", broker=broker_url)
    producer.conf.update(task_queues=build_task_queues("amqp"), task_serializer="json")
    try:
        migrate(env)
        supervisor.start("worker", worker_command(queues=("checkins",), concurrency=1, name=NODE,
                                                  extra=("--without-gossip", "--without-mingle")),
                         env=env, cwd=ROOT, stop_timeout=30)
        wait_until(lambda: bool(producer.control.ping(destination=[NODE], timeout=0.5)), timeout=90,
                   interval=0.3, what=f"worker {NODE}")
        yield Worker(env, supervisor, producer)
    finally:
        supervisor.stop_all()
        producer.close()
        subprocess.run(["rabbitmqctl", "delete_vhost", VHOST], capture_output=True, timeout=60)


def wait_for_probe(worker: Worker, *, healthy: bool, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    last: list[subprocess.CompletedProcess[str]] = []

    def verdict() -> bool:
        last[:] = [worker.probe()]
        return (last[0].returncode == 0) is healthy

    try:
        wait_until(verdict, timeout=timeout, interval=0.5, what=f"the probe to say {'ok' if healthy else 'stuck'}")
    except TimeoutError as exc:
        raise AssertionError(f"{exc}: {last[0].stdout}{last[0].stderr}" if last else str(exc)) from None
    return last[0]


def test_an_idle_worker_on_an_empty_queue_is_alive(worker: Worker) -> None:
    """Breach caught: a probe that restarts every worker of a quiet queue (progress stale, nothing waiting)."""
    time.sleep(STALE_AFTER + 1)
    assert worker.ready() == 0
    done = worker.probe()
    assert done.returncode == 0, done.stderr
    assert "queues are empty" in done.stdout


def test_a_consuming_worker_is_alive(worker: Worker) -> None:
    worker.publish(30)
    wait_until(lambda: worker.ready() == 0, timeout=60, interval=0.2, what="the worker to take every message")
    done = worker.probe()
    assert done.returncode == 0, done.stderr


def test_a_worker_whose_consumer_was_cancelled_is_stuck_while_messages_wait(worker: Worker) -> None:
    """Breach caught: a worker still connected (its loop alive, answering pings) whose task consumer is gone, as
    after a broker reconnect that never resumed consuming, kept alive while its queue fills."""
    worker.producer.control.cancel_consumer("checkins", destination=[NODE], reply=True, timeout=5)
    try:
        worker.publish(5)
        assert worker.producer.control.ping(destination=[NODE], timeout=2), "the worker stopped answering pings"
        done = wait_for_probe(worker, healthy=False)
        assert "checkins (5)" in done.stderr, done.stderr
        assert "consumer loop last wrote" in done.stderr
    finally:
        worker.producer.control.add_consumer("checkins", destination=[NODE], reply=True, timeout=5)
    wait_until(lambda: worker.ready() == 0, timeout=60, interval=0.2, what="the worker to consume again")
    wait_for_probe(worker, healthy=True)


def test_a_frozen_worker_is_stuck_while_messages_wait_and_alive_once_it_resumes(worker: Worker) -> None:
    """Breach caught: a worker process that stopped (SIGSTOP: nothing of it runs) while messages wait in its queue,
    kept alive because the process still exists."""
    pgid = os.getpgid(worker.pid)
    os.killpg(pgid, signal.SIGSTOP)
    try:
        worker.publish(40)  # more than its prefetch window (8): the broker keeps the rest ready
        done = wait_for_probe(worker, healthy=False)
        assert "checkins (" in done.stderr, done.stderr
    finally:
        os.killpg(pgid, signal.SIGCONT)
    wait_until(lambda: worker.ready() == 0, timeout=60, interval=0.2, what="the resumed worker to consume")
    wait_for_probe(worker, healthy=True)
