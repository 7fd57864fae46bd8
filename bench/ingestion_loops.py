"""The consumers bench/ingestion.py measures the platform against: the seeds' loops, and a bare one (the broker's
ceiling). Each runs in a process of its own."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlsplit

import pika

from storage.s3 import S3Location, s3_client
from taskplatform.core.db import make_engine


def _pika(broker_url: str) -> pika.BlockingConnection:
    parts = urlsplit(broker_url)
    vhost = parts.path[1:] or "/"
    return pika.BlockingConnection(pika.ConnectionParameters(
        parts.hostname, parts.port or 5672, vhost, pika.PlainCredentials(parts.username or "guest",
                                                                        parts.password or "guest")))


def reset_queues(broker_url: str) -> None:
    connection = _pika(broker_url)
    channel = connection.channel()
    for queue in ("rasp_data", "raw_sessions"):
        channel.queue_delete(queue)
    channel.queue_declare(queue="rasp_data", durable=True)
    channel.queue_declare(queue="raw_sessions", durable=True,
                          arguments={"x-queue-type": "quorum", "x-delivery-limit": 5})
    connection.close()


def publish(broker_url: str, queue: str, bodies: list[bytes]) -> None:
    connection = _pika(broker_url)
    channel = connection.channel()
    for body in bodies:
        channel.basic_publish("", queue, body, pika.BasicProperties(delivery_mode=2))
    connection.close()


def seed_device_consumer(broker_url: str, database_url: str) -> None:
    """The seed's consumer: auto_ack, and per message a lookup, an update or insert, a commit."""
    from sqlalchemy.orm import Session

    from taskplatform.core.db import utcnow
    from taskplatform.devices.models import DeviceStatus

    engine = make_engine(database_url)
    fields = ("wifi_status", "mem_usage", "cpu_temp", "cpu_percent", "spi_buses", "net_ifaces")

    def callback(channel: Any, method: Any, properties: Any, body: bytes) -> None:
        data = json.loads(body)
        with Session(engine) as session:
            device = session.query(DeviceStatus).filter_by(raspberry_id=data["id"]).first()
            if device is None:
                device = DeviceStatus(raspberry_id=data["id"])
                session.add(device)
            for field in fields:
                if field in data:
                    setattr(device, field, data[field])
            device.last_update = utcnow()
            session.commit()

    connection = _pika(broker_url)
    channel = connection.channel()
    channel.basic_consume(queue="rasp_data", on_message_callback=callback, auto_ack=True)
    channel.start_consuming()


def bare_consumer(broker_url: str, finished: Any, prefetch: int = 1000, batch: int = 500) -> None:
    """RabbitMQ's own ceiling for `rasp_data`: pika, nothing done with a body, one multiple-ack per `batch`."""
    connection = _pika(broker_url)
    channel = connection.channel()
    channel.basic_qos(prefetch_count=prefetch)
    received = 0

    def callback(channel: Any, method: Any, properties: Any, body: bytes) -> None:
        nonlocal received
        received += 1
        if received % batch == 0 or body.startswith(b'{"id": "bench-end"'):
            channel.basic_ack(method.delivery_tag, multiple=True)
        if body.startswith(b'{"id": "bench-end"'):
            finished.set()

    channel.basic_consume(queue="rasp_data", on_message_callback=callback)
    channel.start_consuming()


def seed_session_consumer(broker_url: str, location: S3Location) -> None:
    """Worker IO's loop: prefetch 1, one upload at a time, ack after it succeeded."""
    loop = asyncio.new_event_loop()
    context = s3_client(location)
    client = loop.run_until_complete(context.__aenter__())

    def callback(channel: Any, method: Any, properties: Any, body: bytes) -> None:
        data = json.loads(body)
        key = f"sessions/{data['user_id']}/{data['session_uuid']}.json"
        loop.run_until_complete(client.put_object(Bucket=location.bucket, Key=key, Body=body,
                                                  ContentType="application/json"))
        channel.basic_ack(method.delivery_tag)

    connection = _pika(broker_url)
    channel = connection.channel()
    channel.basic_qos(prefetch_count=1)
    channel.basic_consume(queue="raw_sessions", on_message_callback=callback)
    channel.start_consuming()


def _queue_state(broker_url: str, queue: str) -> Any:
    connection = _pika(broker_url)
    try:
        return connection.channel().queue_declare(queue, passive=True).method
    finally:
        connection.close()


def consumer_count(broker_url: str, queue: str) -> int:
    return int(_queue_state(broker_url, queue).consumer_count)


def ready_count(broker_url: str, queue: str) -> int:
    """Messages the broker holds ready in `queue` (all of them are in it once this equals what was published)."""
    return int(_queue_state(broker_url, queue).message_count)
