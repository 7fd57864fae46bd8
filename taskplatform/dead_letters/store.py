"""The dead-letter store: what could not be applied, with its body and reason, for replay."""

from __future__ import annotations

import base64
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, insert, select, update
from sqlalchemy.orm import Session

from taskplatform.core.db import session_scope, utcnow
from taskplatform.core.paging import Page, fetch_page, where_given
from taskplatform.dead_letters.models import DeadLetter
from taskplatform.ledger.models import TaskRecord
from taskplatform.ledger.records import TaskState

logger = logging.getLogger("taskplatform.dead_letters.store")

#: Prefix of a body that was not UTF-8 text (kept byte for byte).
BASE64_PREFIX = "base64:"


def body_text(body: bytes | str) -> str:
    """A message body as text; bytes that are not UTF-8, or hold a NUL (which PostgreSQL's text
    columns refuse), are kept as base64, so the store can always take the original."""
    if isinstance(body, str):
        if "\x00" not in body:
            return body
        body = body.encode("utf-8", errors="surrogatepass")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and "\x00" not in text:
        return text
    return BASE64_PREFIX + base64.b64encode(body).decode("ascii")


def _printable(text: str) -> str:
    return text.replace("\x00", "\\x00")


def _json_headers(headers: dict[str, Any] | None) -> dict[str, Any] | None:
    """The headers a JSON column can hold: scalar values, no NUL (AMQP tables may carry timestamps,
    bytes and nested tables that would make the whole dead letter unstorable)."""
    if not headers:
        return None
    kept = {_printable(str(k)): _printable(v) if isinstance(v, str) else v for k, v in headers.items()
            if _storable_scalar(v)}
    return kept or None


def _storable_scalar(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return abs(value) < 2**63
    return isinstance(value, str | bool)


@dataclass(frozen=True)
class NewDeadLetter:
    queue: str
    reason: str
    body: bytes | str
    error: str | None = None
    task_name: str | None = None
    attempts: int = 1
    headers: dict[str, Any] | None = None


def record_dead_letters(*, session: Session, letters: Sequence[NewDeadLetter]) -> None:
    if not letters:
        return
    now = utcnow()
    session.execute(insert(DeadLetter.__table__), [
        {"queue": d.queue, "reason": d.reason, "body": body_text(d.body),
         "error": _printable(d.error[:4000]) if d.error else None, "task_name": d.task_name, "attempts": d.attempts,
         "headers": _json_headers(d.headers), "created_at": now}
        for d in letters])


def settle_as_dead_letter(message: Any, letter: NewDeadLetter) -> None:
    """Store `letter`, then acknowledge its broker message; if the store is down, requeue it instead
    (a message is never dropped for want of a place to put it)."""
    try:
        with session_scope() as session:
            record_dead_letters(session=session, letters=[letter])
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


def _filtered(filters: DeadLetterFilter) -> Select[DeadLetter]:
    query = where_given(select(DeadLetter), (DeadLetter.queue, filters.queue), (DeadLetter.reason, filters.reason))
    if filters.since:
        query = query.where(DeadLetter.created_at >= filters.since)
    if filters.replayed is not None:
        query = query.where(DeadLetter.replayed_at.is_not(None) if filters.replayed
                            else DeadLetter.replayed_at.is_(None))
    return query


def list_dead_letters(*, session: Session, filters: DeadLetterFilter, limit: int, offset: int) -> Page[DeadLetter]:
    return fetch_page(session, _filtered(filters), DeadLetter.created_at.desc(), DeadLetter.id.desc(),
                      limit=limit, offset=offset)


def matching_dead_letters(*, session: Session, filters: DeadLetterFilter, limit: int) -> list[DeadLetter]:
    """Oldest first: a bulk replay applies messages in the order they failed."""
    return list(session.scalars(_filtered(filters).order_by(DeadLetter.id).limit(limit)))


def get_dead_letter(*, session: Session, letter_id: int) -> DeadLetter | None:
    return session.get(DeadLetter, letter_id)


class AlreadyReplayed(Exception):
    """The letter was replayed and that replay has not failed (or another request is replaying it)."""

    def __init__(self, letter_id: int, task_id: str | None) -> None:
        by = f"by task {task_id}" if task_id else "by another request right now"
        super().__init__(f"dead letter {letter_id} was already replayed {by}")
        self.task_id = task_id


@dataclass(frozen=True)
class Claim:
    """A letter marked as being replayed; `previous_*` put it back if the replay cannot be published."""

    letter_id: int
    previous_replayed_at: datetime | None
    previous_task_id: str | None


#: States of a replay task after which the letter may be replayed again.
REPLAYABLE_AGAIN = frozenset({TaskState.FAILURE, TaskState.REVOKED, TaskState.CANCELED})


def claim_for_replay(*, session: Session, letter_id: int) -> Claim:
    """Mark a letter as being replayed (`replayed_at` set, no task yet), in the caller's transaction.

    A letter is replayed once: a second replay is refused (AlreadyReplayed) unless its last replay
    task ended in FAILURE, REVOKED or CANCELED, so a fix can be tried again. The mark is a compare-and-set on
    what was read, so of two concurrent requests only one gets the letter.
    """
    table = DeadLetter.__table__
    row = session.execute(select(DeadLetter.replayed_at, DeadLetter.replay_task_id, TaskRecord.state)
                          .outerjoin(TaskRecord, TaskRecord.id == DeadLetter.replay_task_id)
                          .where(DeadLetter.id == letter_id)).one()
    if row.replayed_at is None:
        unchanged = table.c.replayed_at.is_(None)
    elif row.replay_task_id is not None and row.state in REPLAYABLE_AGAIN:
        unchanged = table.c.replay_task_id == row.replay_task_id
    else:
        raise AlreadyReplayed(letter_id, row.replay_task_id)
    claimed = session.execute(update(table).where(table.c.id == letter_id, unchanged)
                              .values(replayed_at=utcnow(), replay_task_id=None))
    if claimed.rowcount != 1:  # type: ignore[attr-defined]  # an UPDATE's CursorResult
        raise AlreadyReplayed(letter_id, None)
    return Claim(letter_id, row.replayed_at, row.replay_task_id)


def release_claim(*, session: Session, claim: Claim) -> None:
    """The replay was not published: the letter is as it was before the claim."""
    session.execute(update(DeadLetter.__table__).where(DeadLetter.id == claim.letter_id)
                    .values(replayed_at=claim.previous_replayed_at, replay_task_id=claim.previous_task_id))


def mark_replayed(*, session: Session, letter_id: int, task_id: str) -> None:
    session.execute(update(DeadLetter.__table__).where(DeadLetter.id == letter_id)
                    .values(replayed_at=utcnow(), replay_task_id=task_id))


def count_by_queue(*, session: Session) -> list[tuple[str, int]]:
    rows = session.execute(select(DeadLetter.queue, func.count()).where(DeadLetter.replayed_at.is_(None))
                           .group_by(DeadLetter.queue))
    return [(queue, count) for queue, count in rows]
