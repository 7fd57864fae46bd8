"""Queues that producers outside Celery publish plain JSON to, declared exactly as they do.

Queue arguments cannot differ from the producer's declaration (RabbitMQ answers 406), so
the dead-letter exchange of `raw_sessions` is attached by a policy, not an argument.
"""

from __future__ import annotations

from kombu import Exchange, Queue

#: The Raspberry Pi publisher: `queue_declare(queue='rasp_data', durable=True)`.
RASP_DATA = Queue("rasp_data", exchange="", routing_key="rasp_data", durable=True)

#: Worker IO's producers: quorum, redelivered at most 5 times.
RAW_SESSIONS = Queue("raw_sessions", exchange="", routing_key="raw_sessions", durable=True,
                     queue_arguments={"x-queue-type": "quorum", "x-delivery-limit": 5})
RAW_SESSIONS_DLX = Exchange("raw_sessions.dlx", type="direct", durable=True)
RAW_SESSIONS_DLQ = Queue("raw_sessions.dlq", RAW_SESSIONS_DLX, routing_key="raw_sessions", durable=True,
                         queue_arguments={"x-queue-type": "quorum"})

#: name -> (pattern, definition) of the RabbitMQ policies the platform needs.
POLICIES: dict[str, tuple[str, dict[str, str]]] = {
    "raw-sessions-dlx": ("^raw_sessions$", {"dead-letter-exchange": "raw_sessions.dlx",
                                            "dead-letter-routing-key": "raw_sessions"}),
}
