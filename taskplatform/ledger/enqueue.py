"""`enqueue_tracked`: write the ledger record, commit, then publish with the same id."""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from functools import cache
from typing import Any

from celery.canvas import Signature
from sqlalchemy.orm import Session

from taskplatform.core.db import utcnow
from taskplatform.core.settings import get_settings
from taskplatform.core.single_statement import run_on_driver, single_statement_capable
from taskplatform.ledger import driver_path
from taskplatform.ledger.cancellation import arguments_to_keep
from taskplatform.ledger.group_commit import GroupCommit
from taskplatform.ledger.idempotency import ScopedKey
from taskplatform.ledger.records import TaskState, create_task_record, delete_task_record, find_by_idempotency_key
from taskplatform.messaging.publish import publish
from taskplatform.messaging.queues import queue_for

logger = logging.getLogger("taskplatform.ledger.enqueue")
#: Rounds of look-up and insert for one keyed request (a second is needed only after a lost race).
_CLAIM_ATTEMPTS = 3


class PublishFailed(RuntimeError):
    """The broker did not accept the message; nothing was enqueued."""


@dataclass(frozen=True)
class Enqueued:
    """The task a request stands for: `state` is what the ledger said when it answered (QUEUED for a
    new task, whatever the first one reached for a repeated Idempotency-Key)."""

    task_id: str
    state: str
    created: bool


def enqueue_tracked(*, session: Session, signature: Signature, params: dict[str, Any] | None = None,
                    idempotency: ScopedKey | None = None, rerun_of: str | None = None) -> Enqueued:
    """Record a task as QUEUED, commit, then publish it under the record's id.

    With an idempotency key this scope already used for this task name, the first task is
    returned and nothing is published; if that first request had another hash,
    `IdempotencyKeyReused` is raised. The record is committed before publishing, so a worker
    never runs a task the ledger does not know; if publishing fails the record is removed
    and `PublishFailed` raised, so the request can be retried safely. The arguments are kept with the
    record for re-runs (`rerun_of`: the task this one re-runs), unless their JSON is too large.
    """
    name = signature.task
    task_id = str(uuid.uuid4())
    queue = queue_for(name)
    # Redis's transport can lose a message popped by a worker killed before it noted it as unacked;
    # the ledger keeps a copy until the task starts (taskplatform/ledger/redelivery.py). RabbitMQ cannot.
    message = ({"args": list(signature.args), "kwargs": dict(signature.kwargs)}
               if get_settings().broker_kind == "redis" else None)
    arguments = arguments_to_keep(list(signature.args), dict(signature.kwargs))
    if idempotency is None and not session.in_transaction() and single_statement_capable():
        # Nothing to claim, and no work of the caller's to commit with it (a dead letter's claim is): the record
        # is one statement in autocommit on an unpinged pooled connection, one round trip where the session
        # spends four (ping, BEGIN, the statement, COMMIT). It commits before the publish all the same.
        # Concurrent callers of this process (API requests, producer threads) share one statement and commit.
        _queued_records().submit(json.dumps({"id": task_id, "name": name, "queue": queue, "params": params,
                                             "message": message, "arguments": arguments, "rerun_of": rerun_of}))
        return _publish_or_withdraw(session, signature, task_id, queue)
    for _ in range(_CLAIM_ATTEMPTS):
        if idempotency is not None:
            existing = find_by_idempotency_key(session=session, name=name, idempotency=idempotency)
            if existing is not None:
                return Enqueued(existing.id, existing.state, created=False)
        created = create_task_record(session=session, task_id=task_id, name=name, queue=queue, params=params,
                                     idempotency=idempotency, message=message, rerun_of=rerun_of,
                                     arguments=arguments)
        session.commit()
        if created:
            break
        # Another request with the same key won the race: its record is found on the next turn, unless
        # its publish failed and the record was removed in between (then this request claims the key).
    else:
        raise PublishFailed(f"could not claim the Idempotency-Key for {name}; retry the request")
    return _publish_or_withdraw(session, signature, task_id, queue)


def _write_queued(rows: list[str]) -> None:
    batch = "[" + ",".join(rows) + "]"
    run_on_driver(lambda connection: driver_path.create_queued_many(connection, rows=batch, now=utcnow()))


@cache
def _queued_records() -> GroupCommit[str]:
    """The process's group commit of QUEUED records (`group_commit.py`): rows as JSON text."""
    return GroupCommit(_write_queued)


def _publish_or_withdraw(session: Session, signature: Signature, task_id: str, queue: str) -> Enqueued:
    name = signature.task
    try:
        publish(signature, task_id=task_id, queue=queue)
    except Exception as exc:
        logger.exception("publish failed for %s id=%s", name, task_id)
        delete_task_record(session=session, task_id=task_id)
        session.commit()
        raise PublishFailed(f"the broker did not accept task {name}: {type(exc).__name__}: {exc}") from exc
    # No read-back: a fast worker may already have moved the record on, and this answer says what was done.
    return Enqueued(task_id, TaskState.QUEUED, created=True)
