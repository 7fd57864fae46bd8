"""`raw_sessions`: the queue Worker IO's producers publish UX sessions to, registered with the platform.

Queue arguments cannot differ from the producers' declaration (RabbitMQ answers 406), so its dead-letter
exchange is attached by a policy, not an argument.
"""

from __future__ import annotations

import json
from typing import Any

from kombu import Exchange, Queue

from taskplatform.messaging.raw_queues import RawQueue, register
from taskplatform.messaging.task_names import TaskName
from taskplatform.sessions.messages import parse_session


def session_kwargs(body: Any) -> dict[str, Any]:
    """`sessions.persist`'s arguments for one message (raises InvalidMessage)."""
    parsed = parse_session(body if isinstance(body, str | dict) else json.dumps(body))
    return {"session": json.loads(parsed.body)}


#: Where RabbitMQ puts a message past the delivery limit (a consumer step moves it to the dead-letter store).
RAW_SESSIONS_DLQ = Queue("raw_sessions.dlq", Exchange("raw_sessions.dlx", type="direct", durable=True),
                         routing_key="raw_sessions", durable=True, queue_arguments={"x-queue-type": "quorum"})

#: Worker IO's producers: quorum, redelivered at most 5 times, then dead-lettered to raw_sessions.dlq.
RAW_SESSIONS = register(RawQueue(
    queue=Queue("raw_sessions", exchange="", routing_key="raw_sessions", durable=True,
                queue_arguments={"x-queue-type": "quorum", "x-delivery-limit": 5}),
    task_name=TaskName.SESSIONS_PERSIST.value, task_kwargs=session_kwargs,
    item_argument="session", items_argument="sessions",
    dead_letter_queue=RAW_SESSIONS_DLQ,
    policies={"raw-sessions-dlx": ("^raw_sessions$", {"dead-letter-exchange": "raw_sessions.dlx",
                                                      "dead-letter-routing-key": "raw_sessions"})},
))
