"""`enqueue_members`: record many tasks in one commit, then publish one carrier message for all of them."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from taskplatform.core.db import utcnow
from taskplatform.core.settings import get_settings
from taskplatform.ledger.enqueue import PublishFailed
from taskplatform.ledger.members import NewMember, create_members, delete_members
from taskplatform.messaging.celery_app import app
from taskplatform.messaging.publish import publish
from taskplatform.messaging.queues import queue_for

logger = logging.getLogger("taskplatform.ledger.enqueue")


@dataclass(frozen=True)
class Member:
    """One request of a group: the kwargs its task would have had alone, and its record's params."""

    kwargs: dict[str, Any]
    params: dict[str, Any] | None = None


def enqueue_members(*, session: Session, name: str, carrier: str, members: list[Member]) -> list[str]:
    """Record each member as a QUEUED task `name` (one commit), then publish ONE task `carrier` with
    kwargs {"members": [{"task_id": ..., **member kwargs}, ...]}. Returns the members' ids, in order.

    As `enqueue_tracked`: the records are committed before the publish, so the carrier never names a task the
    ledger does not know; if the publish fails they are removed and `PublishFailed` raised. On Redis each record
    keeps its own single message (`name` with its kwargs) for the redelivery sweep, should the carrier be lost."""
    queue = queue_for(name)
    redis = get_settings().broker_kind == "redis"
    ids = [str(uuid.uuid4()) for _ in members]
    create_members(session=session, name=name, queue=queue, now=utcnow(), members=[
        NewMember(task_id, m.params, {"args": [], "kwargs": m.kwargs} if redis else None)
        for task_id, m in zip(ids, members, strict=True)])
    session.commit()
    signature = app.signature(carrier, kwargs={"members": [{"task_id": task_id, **m.kwargs}
                                                           for task_id, m in zip(ids, members, strict=True)]})
    try:
        publish(signature, task_id=str(uuid.uuid4()), queue=queue_for(carrier))
    except Exception as exc:
        logger.exception("publish failed for %s carrying %d %s", carrier, len(ids), name)
        delete_members(session=session, task_ids=ids)
        session.commit()
        raise PublishFailed(f"the broker did not accept task {carrier}: {type(exc).__name__}: {exc}") from exc
    return ids
