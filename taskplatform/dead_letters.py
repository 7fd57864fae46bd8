"""The dead-letter store: what could not be applied, with its body and reason, for replay."""

from __future__ import annotations

import base64
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, func, insert, select, update
from sqlalchemy.orm import Session

from taskplatform.db import get_engine, utcnow
from taskplatform.models import DeadLetter

logger = logging.getLogger("taskplatform.dead_letters")

#: Prefix of a body that was not UTF-8 text (kept byte for byte).
BASE64_PREFIX = "base64:"


def body_text(body: bytes | str) -> str:
    """A message body as text; bytes that are not UTF-8 are kept as base64."""
    if isinstance(body, str):
        return body
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return BASE64_PREFIX + base64.b64encode(body).decode("ascii")


@dataclass(frozen=True)
class NewDeadLetter:
    queue: str
    reason: str
    body: bytes | str
    error: str | None = None
    task_name: str | None = None
    attempts: int = 1
    headers: dict[str, Any] | None = None


def record_dead_letters(*, connection: Connection, letters: Sequence[NewDeadLetter]) -> None:
    if not letters:
        return
    now = utcnow()
    connection.execute(insert(DeadLetter.__table__), [
        {"queue": d.queue, "reason": d.reason, "body": body_text(d.body), "error": (d.error or "")[:4000] or None,
         "task_name": d.task_name, "attempts": d.attempts, "headers": d.headers, "created_at": now}
        for d in letters])


def settle_as_dead_letter(message: Any, letter: NewDeadLetter) -> None:
    """Store `letter`, then acknowledge its broker message; if the store is down, requeue it instead
    (a message is never dropped for want of a place to put it)."""
    try:
        with get_engine().begin() as connection:
            record_dead_letters(connection=connection, letters=[letter])
    except Exception:
        logger.exception("could not store a dead letter from %s; the message goes back to its queue", letter.queue)
        message.requeue()
        return
    message.ack()


@dataclass(frozen=True)
class DeadLetterFilter:
    queue: str | None = None
    reason: str | None = None
    since: datetime | None = None
    replayed: bool | None = None


def _filtered(filters: DeadLetterFilter) -> Select[tuple[DeadLetter]]:
    query = select(DeadLetter)
    if filters.queue:
        query = query.where(DeadLetter.queue == filters.queue)
    if filters.reason:
        query = query.where(DeadLetter.reason == filters.reason)
    if filters.since:
        query = query.where(DeadLetter.created_at >= filters.since)
    if filters.replayed is not None:
        query = query.where(DeadLetter.replayed_at.is_not(None) if filters.replayed
                            else DeadLetter.replayed_at.is_(None))
    return query


def list_dead_letters(*, session: Session, filters: DeadLetterFilter, limit: int,
                      offset: int) -> tuple[int, list[DeadLetter]]:
    query = _filtered(filters)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(DeadLetter.created_at.desc(), DeadLetter.id.desc())
                           .limit(limit).offset(offset))
    return total, list(rows)


def matching_dead_letters(*, session: Session, filters: DeadLetterFilter, limit: int) -> list[DeadLetter]:
    """Oldest first: a bulk replay applies messages in the order they failed."""
    return list(session.scalars(_filtered(filters).order_by(DeadLetter.id).limit(limit)))


def get_dead_letter(*, session: Session, letter_id: int) -> DeadLetter | None:
    return session.get(DeadLetter, letter_id)


def mark_replayed(*, session: Session, letter_id: int, task_id: str) -> None:
    session.execute(update(DeadLetter.__table__).where(DeadLetter.id == letter_id)
                    .values(replayed_at=utcnow(), replay_task_id=task_id))


def count_by_queue(*, session: Session) -> list[tuple[str, int]]:
    rows = session.execute(select(DeadLetter.queue, func.count()).where(DeadLetter.replayed_at.is_(None))
                           .group_by(DeadLetter.queue))
    return [(queue, count) for queue, count in rows]
