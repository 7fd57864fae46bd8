"""Publish again a task whose message the Redis broker lost.

kombu's Redis transport pops a message (BRPOP) and only then records it as unacknowledged, so
a worker killed in between (SIGKILL, the OOM killer, a lost machine) takes the message with it:
the task stays QUEUED forever and nothing redelivers it. The ledger keeps a copy of each task's
message until a worker starts it; a task still QUEUED `after_s` after it was recorded is
published again, once, under the same id. If the first message was only slow (a backlog), the
task runs twice, which every task tolerates (they are idempotent). RabbitMQ has no such window
(a message is unacknowledged from the moment it is delivered), so this applies to Redis only.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from taskplatform.ledger.models import TaskRecord
from taskplatform.ledger.records import TaskState

#: publish(name, args, kwargs, task_id, queue)
Publish = Callable[[str, list[Any], dict[str, Any], str, str | None], None]


def redeliver_lost(sessions: sessionmaker[Session], publish: Publish, *, now: datetime, after_s: float,
                   limit: int = 500) -> list[str]:
    """Publish again, once, each task still QUEUED `after_s` seconds after it was recorded. Returns their ids."""
    table = TaskRecord.__table__
    with sessions.begin() as session:
        stale = session.execute(
            select(table.c.id, table.c.name, table.c.queue, table.c.message)
            .where(table.c.state == TaskState.QUEUED, table.c.message.is_not(None), table.c.redelivered_at.is_(None),
                   table.c.created_at < now - timedelta(seconds=after_s))
            .order_by(table.c.created_at).limit(limit)).all()
    for task_id, name, queue, message in stale:
        # Published first, marked second: a crash in between publishes it twice, never zero times.
        publish(name, list(message.get("args") or []), dict(message.get("kwargs") or {}), task_id, queue)
        with sessions.begin() as session:
            session.execute(update(table).where(table.c.id == task_id).values(redelivered_at=now))
    return [task_id for task_id, *_ in stale]
