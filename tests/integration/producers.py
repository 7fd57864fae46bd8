"""The seeds' own producers: plain JSON published with pika, as devices and services do today."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote, urlsplit

import pika
import pytest

from tests.integration.stack import Stack


def require_amqp(stack: Stack) -> None:
    if stack.broker_kind != "amqp":
        pytest.skip("raw JSON producers publish to RabbitMQ; the Redis stacks take them over HTTP")


def amqp_connection(stack: Stack) -> pika.BlockingConnection:
    parts = urlsplit(stack.env["BROKER_URL"])
    credentials = pika.PlainCredentials(parts.username or "guest", parts.password or "guest")
    vhost = unquote(parts.path[1:]) or "/"
    return pika.BlockingConnection(pika.ConnectionParameters(parts.hostname, parts.port or 5672, vhost, credentials))


def publish_rasp_data(stack: Stack, bodies: list[Any]) -> None:
    """The Raspberry Pi snippet of the seed, verbatim but for the credentials."""
    connection = amqp_connection(stack)
    channel = connection.channel()
    channel.queue_declare(queue="rasp_data", durable=True)
    for body in bodies:
        payload = body if isinstance(body, bytes) else json.dumps(body)
        channel.basic_publish(exchange="", routing_key="rasp_data", body=payload,
                              properties=pika.BasicProperties(delivery_mode=2))
    connection.close()


def publish_raw_sessions(stack: Stack, bodies: list[Any]) -> None:
    """Worker IO's producers: the quorum queue with its delivery limit, persistent messages."""
    connection = amqp_connection(stack)
    channel = connection.channel()
    channel.queue_declare(queue="raw_sessions", durable=True,
                          arguments={"x-queue-type": "quorum", "x-delivery-limit": 5})
    for body in bodies:
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        channel.basic_publish(exchange="", routing_key="raw_sessions", body=payload,
                              properties=pika.BasicProperties(delivery_mode=2, content_type="application/json"))
    connection.close()


SEED_READING = {
    "id": "raspberry-01", "wifi_status": "connected", "mem_usage": "512 MB", "cpu_temp": "48°C",
    "cpu_percent": 12.5, "gpio_used_count": 3, "spi_buses": ["spi0.0"], "i2c_buses": ["i2c-1"],
    "usb_devices_count": 2, "net_bytes_sent": 102400, "net_bytes_recv": 204800,
    "net_ifaces": [{"name": "wlan0", "ip": "192.168.0.10"}],
}
