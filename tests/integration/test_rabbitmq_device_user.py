"""The devices' RabbitMQ user: it declares `rasp_data` and publishes to it, and may do nothing else."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import pika
import pytest
from pika.exceptions import ChannelClosedByBroker

from taskplatform.dev.processes import wait_until
from tests.integration.stack import platform_env
from tests.services import RABBITMQ_URL, REGISTRY

ROOT = Path(__file__).resolve().parents[2]
PARTS = urlsplit(RABBITMQ_URL)
#: A vhost of this module's own: the stacks' workers consume `rasp_data` on the test vhost, and would take the
#: devices' messages before this module could read them.
VHOST = f"tp-test-devices-{secrets.token_hex(4)}"


def connect(user: str, password: str) -> pika.BlockingConnection:
    return pika.BlockingConnection(pika.ConnectionParameters(PARTS.hostname, PARTS.port or 5672, VHOST,
                                                             pika.PlainCredentials(user, password)))


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def device() -> Iterator[tuple[str, str]]:
    """A device user made by `python -m taskplatform rabbitmq-device-user` on a vhost of its own, both deleted
    afterwards."""
    REGISTRY.require("rabbitmq")
    if not shutil.which("rabbitmqctl"):
        pytest.skip("rabbitmqctl is not on this machine (the broker is elsewhere)")
    admin = unquote(PARTS.username or "guest")
    _rabbitmqctl("add_vhost", VHOST)
    _rabbitmqctl("set_permissions", "-p", VHOST, admin, ".*", ".*", ".*")
    user, password = f"tp-test-device-{secrets.token_hex(4)}", secrets.token_urlsafe(24)
    broker_url = PARTS._replace(path="/" + quote(VHOST, safe="")).geturl()
    env = platform_env(BROKER_URL=broker_url, RABBITMQ_DEVICE_USER=user, RABBITMQ_DEVICE_PASSWORD=password)
    made = subprocess.run([sys.executable, "-m", "taskplatform", "rabbitmq-device-user"], env=env, cwd=ROOT,
                          capture_output=True, text=True)
    try:
        assert made.returncode == 0, made.stderr
        # twice: the compose migrate step runs it on every start
        again = subprocess.run([sys.executable, "-m", "taskplatform", "rabbitmq-device-user"], env=env, cwd=ROOT,
                               capture_output=True, text=True)
        assert again.returncode == 0, again.stderr
        yield user, password
    finally:
        subprocess.run(["rabbitmqctl", "delete_user", user], capture_output=True)
        subprocess.run(["rabbitmqctl", "delete_vhost", VHOST], capture_output=True)


def refused(user: str, password: str, action: Callable[[Any], Any]) -> bool:
    connection = connect(user, password)
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        action(channel)
    except ChannelClosedByBroker as exc:
        return exc.reply_code == 403
    finally:
        if connection.is_open:
            connection.close()
    return False


def test_a_device_publishes_to_rasp_data_as_the_seed_does(device: tuple[str, str]) -> None:
    """Breach (inverse): a user so narrow that the devices' own snippet no longer works."""
    admin = connect(unquote(PARTS.username or "guest"), unquote(PARTS.password or "guest"))
    channel = admin.channel()
    channel.queue_declare(queue="rasp_data", durable=True)
    channel.queue_purge("rasp_data")
    body = json.dumps({"id": f"raspberry-{secrets.token_hex(3)}", "wifi_status": "connected"})
    connection = connect(*device)
    seed = connection.channel()
    seed.queue_declare(queue="rasp_data", durable=True)
    seed.basic_publish(exchange="", routing_key="rasp_data", body=body,
                       properties=pika.BasicProperties(delivery_mode=2))
    connection.close()
    received: list[bytes] = []

    def arrived() -> bool:
        _, _, message = channel.basic_get("rasp_data", auto_ack=True)
        if message is not None:
            received.append(message)
        return bool(received)

    wait_until(arrived, timeout=10, interval=0.1, what="the device's message in rasp_data")
    admin.close()
    assert [m.decode() for m in received] == [body]


def test_a_device_can_read_declare_or_publish_nothing_else(device: tuple[str, str]) -> None:
    """Breach: devices log in as the broker's administrator, so one stolen Raspberry Pi reads every queue
    (task arguments and results), declares and deletes queues and exchanges, and publishes anywhere."""
    assert refused(*device, lambda c: c.basic_get("rasp_data"))
    assert refused(*device, lambda c: c.queue_declare(queue="checkins", durable=True, passive=False,
                                                      arguments={"x-queue-type": "quorum"}))
    assert refused(*device, lambda c: c.queue_declare(queue=f"mine-{secrets.token_hex(3)}"))
    assert refused(*device, lambda c: c.exchange_declare(exchange=f"mine-{secrets.token_hex(3)}"))
    assert refused(*device, lambda c: c.basic_publish(exchange="amq.topic", routing_key="checkins", body=b"{}"))
    assert refused(*device, lambda c: c.queue_bind(queue="rasp_data", exchange="amq.fanout"))
