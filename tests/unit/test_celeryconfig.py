"""celeryconfig: what each broker is told, read from the settings."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator
from types import ModuleType

import pytest

from taskplatform.settings import get_settings


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
    assert config.beat_schedule["redeliver-lost"]["task"] == "maintenance.redeliver_lost"


def test_rabbitmq_publishes_with_confirms(load_config: Callable[..., ModuleType]) -> None:
    config = load_config(BROKER_URL="amqp://guest:guest@127.0.0.1:5672//")
    assert config.broker_transport_options == {"confirm_publish": True}
    assert "redeliver-lost" not in config.beat_schedule  # RabbitMQ cannot lose a delivered message
