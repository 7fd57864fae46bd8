"""celeryconfig: what each broker is told, read from the settings."""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Callable, Iterator
from types import ModuleType

import pytest
from celery import Celery
from kombu import pools
from kombu.exceptions import OperationalError

from taskplatform.core.settings import get_settings
from taskplatform.messaging.publish import publish
from taskplatform.messaging.task_names import TaskName


@pytest.fixture
def load_config(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., ModuleType]]:
    """Import celeryconfig afresh under the given environment."""
    def load(**env: str) -> ModuleType:
        monkeypatch.setenv("TASKPLATFORM_ENV_FILE", "")
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        get_settings.cache_clear()
        sys.modules.pop("celeryconfig", None)
        return importlib.import_module("celeryconfig")

    yield load
    sys.modules.pop("celeryconfig", None)  # a later import reads its own environment
    get_settings.cache_clear()


def test_importing_without_a_broker_is_harmless_and_configuring_celery_refuses_clearly(
        load_config: Callable[..., ModuleType], monkeypatch: pytest.MonkeyPatch) -> None:
    """Breach caught: `import celeryconfig` reading the settings and raising (work at import time), or a worker
    started without a broker failing with anything less clear than the refusal."""
    for name in ("BROKER_URL", "RABBITMQ_URL", "RABBITMQ_HOST", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    config = load_config()  # no error: nothing is read yet
    app = Celery("no-broker-test", set_as_current=False)
    app.config_from_object(config)
    with pytest.raises(RuntimeError, match="No broker configured: set BROKER_URL"):
        app.conf.broker_url  # noqa: B018 (Celery reads the module here, as a worker or beat does at start)


@pytest.mark.parametrize(("interval", "expire"), [("1", 5), ("10", 30)])
def test_redis_sweeps_unacked_messages_at_the_interval_and_a_dead_sweepers_lock_lapses(
        load_config: Callable[..., ModuleType], interval: str, expire: int) -> None:
    config = load_config(BROKER_URL="redis://127.0.0.1:6399/0", BROKER_VISIBILITY_TIMEOUT="60",
                         BROKER_UNACKED_RESTORE_INTERVAL=interval)
    options = config.broker_transport_options
    assert options["visibility_timeout"] == 60
    assert options["unacked_restore_interval"] == int(interval) and options["unacked_restore_throttle"] == 1
    # kombu's own 300 s would stop redelivery for 5 minutes after a worker died mid-sweep
    assert options["unacked_mutex_expire"] == expire
    assert config.beat_schedule["redeliver-lost"]["task"] == TaskName.MAINTENANCE_REDELIVER_LOST


def test_rabbitmq_publishes_with_confirms(load_config: Callable[..., ModuleType]) -> None:
    config = load_config(BROKER_URL="amqp://guest:guest@127.0.0.1:5672//")
    assert config.broker_transport_options == {"confirm_publish": True}
    assert "redeliver-lost" not in config.beat_schedule  # RabbitMQ cannot lose a delivered message
    assert config.broker_heartbeat == 120.0  # Celery's own default, unless BROKER_HEARTBEAT says otherwise


def test_a_cluster_is_reached_through_every_nodes_url_with_the_configured_heartbeat(
        load_config: Callable[..., ModuleType]) -> None:
    """Breach caught: a failover list (`url;url;url`) not handed to Celery as one, or read as another broker kind,
    so a worker or the API could not move to another node of a RabbitMQ cluster."""
    urls = ";".join(f"amqp://app:secret@10.0.0.{n}:5672//" for n in (1, 2, 3))
    config = load_config(BROKER_URL=urls, BROKER_HEARTBEAT="4")
    assert config.broker_url == urls
    assert config.broker_heartbeat == 4.0
    assert config.broker_transport_options == {"confirm_publish": True}
    app = Celery("failover-test", set_as_current=False)
    app.config_from_object(config)
    connection = app.connection_for_write()
    try:
        assert connection.alt == urls.split(";")  # kombu's failover list, tried in turn
        assert connection.hostname == "10.0.0.1"
        assert app.conf.broker_heartbeat == 4.0  # the worker's consumer connection asks for it
    finally:
        connection.release()



def test_an_enqueue_with_every_broker_connection_in_use_fails_within_the_timeout(
        load_config: Callable[..., ModuleType]) -> None:
    """Breach caught: a publish waiting forever for a pooled broker connection instead of failing, which the API
    answers with a 503 (issue 9, item 1: enqueues hung while status calls held the pool)."""
    config = load_config(BROKER_URL="amqp://guest:guest@127.0.0.1:5672//", BROKER_POOL_TIMEOUT_S="0.3")
    assert config.broker_pool_acquire_timeout == 0.3
    app = Celery("pool-test", set_as_current=False)
    app.config_from_object(config)
    app.conf.update(broker_url="memory://", broker_transport_options={}, broker_pool_limit=2)
    previous_limit = pools.get_limit()
    outcome: list[BaseException | None] = []

    def enqueue() -> None:
        try:
            publish(app.signature("reports.daily"), task_id="pool-test", queue="reports")
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 (handed to the test's thread)
            outcome.append(exc)

    try:
        held = [app.pool.acquire(block=True) for _ in range(2)]  # as long inspections held them
        thread = threading.Thread(target=enqueue, daemon=True)
        thread.start()
        thread.join(10)
        assert outcome, "the publish was still waiting for a broker connection after 10 s"
        assert isinstance(outcome[0], OperationalError) and "Timed out waiting" in str(outcome[0])
        for connection in held:
            connection.release()
        publish(app.signature("reports.daily"), task_id="pool-test-2", queue="reports")  # a free one is used
    finally:
        pools.reset()
        pools.set_limit(previous_limit)


def test_beat_runs_every_domains_jobs_at_their_hour(load_config: Callable[..., ModuleType]) -> None:
    """Breach caught: a domain's beat entry left out when the schedules are joined (no nightly report)."""
    config = load_config(BROKER_URL="amqp://guest:guest@127.0.0.1:5672//")
    when = {name: (entry["task"], entry["schedule"].hour, entry["schedule"].minute)
            for name, entry in config.beat_schedule.items()}
    assert when == {"daily-report": ("reports.daily", {23}, {55}), "churn-retrain": ("churn.retrain", {0}, {30}),
                    "purge-expired": ("maintenance.purge_expired", {4}, {10})}
