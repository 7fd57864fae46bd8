"""Process-lifecycle signal handlers (no task logic lives here)."""

from __future__ import annotations

import logging
from typing import Any

from celery import signals

from taskplatform.core.db import reset_after_fork, session_scope
from taskplatform.core.settings import get_settings
from taskplatform.core.single_statement import reset_single_statement_after_fork
from taskplatform.ledger.records import TaskState, record_transition
from taskplatform.messaging.queues import dead_letter_queue

logger = logging.getLogger("taskplatform.worker")


def _reset_db_pool(**_: Any) -> None:
    # A forked pool process must not reuse the parent's pooled database connections.
    reset_after_fork()
    reset_single_statement_after_fork()


def _declare_dead_letter_queue(sender: Any = None, **_: Any) -> None:
    # Task queues dead-letter into this queue past their delivery limit; without it
    # RabbitMQ would drop those messages.
    if get_settings().broker_kind != "amqp" or sender is None:
        return
    with sender.app.connection_for_write() as connection:
        dead_letter_queue()(connection.default_channel).declare()


def _record_revoked(request: Any = None, terminated: bool = False, signum: Any = None, expired: bool = False,
                    **_: Any) -> None:
    if request is None:
        return
    try:
        with session_scope() as session:
            record_transition(session=session, task_id=request.id, name=request.task_name,
                              queue=None, state=TaskState.REVOKED,
                              detail={"terminated": terminated, "expired": expired})
    except Exception:
        logger.exception("ledger write failed for revoked task %s", request.id)


# Connected by calls, not decorators: Celery has no type information, and a decorator from it would leave
# the handlers untyped for mypy.
signals.worker_process_init.connect(_reset_db_pool)
signals.worker_ready.connect(_declare_dead_letter_queue)
signals.task_revoked.connect(_record_revoked)
