"""Dead-letter endpoints: list, inspect and replay what could not be applied."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body, HTTPException, Query, Response
from sqlalchemy.orm import Session

from api.deps import SessionDep, SettingsDep
from api.enqueue import enqueue_or_503
from api.schemas.errors import BAD_BODY, ENQUEUE, NOT_FOUND
from api.schemas.ingestion import BulkReplayOut, DeadLetterList, DeadLetterOut, ReplayIn
from api.schemas.params import IsoDatetime, RowId
from api.schemas.tasks import TaskAccepted
from taskplatform.celery_app import app as celery_app
from taskplatform.dead_letters import (
    DeadLetterFilter,
    get_dead_letter,
    list_dead_letters,
    mark_replayed,
    matching_dead_letters,
)
from taskplatform.models import DeadLetter
from taskplatform.raw_messages import InvalidMessage
from taskplatform.replay import replay_for

router = APIRouter(tags=["dead-letters"])

Since = Annotated[IsoDatetime | None,
                  Query(description="created at or after (ISO 8601; local TIMEZONE without offset)")]


def _filters(settings: SettingsDep, queue: str | None, reason: str | None, since: datetime | None,
             replayed: bool | None) -> DeadLetterFilter:
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=settings.tz)
    return DeadLetterFilter(queue=queue, reason=reason, since=since, replayed=replayed)


def _replay(session: Session, letter: DeadLetter, body: object | None, response: Response) -> TaskAccepted:
    replay = replay_for(letter, body)
    signature = celery_app.signature(replay.task_name, args=replay.args, kwargs=replay.kwargs)
    accepted = enqueue_or_503(session=session, response=response, signature=signature,
                              params={"dead_letter_id": letter.id}, idempotency_key=None)
    mark_replayed(session=session, letter_id=letter.id, task_id=accepted.task_id)
    session.commit()
    return accepted


@router.get("/dead-letters", response_model=DeadLetterList)
def dead_letters(session: SessionDep, settings: SettingsDep, queue: str | None = None, reason: str | None = None,
                 since: Since = None, replayed: bool | None = None,
                 limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                 offset: Annotated[int, Query(ge=0)] = 0) -> DeadLetterList:
    """Dead letters, newest first, filtered by queue, reason, time and whether they were replayed."""
    total, rows = list_dead_letters(session=session, filters=_filters(settings, queue, reason, since, replayed),
                                    limit=limit, offset=offset)
    return DeadLetterList(total=total, limit=limit, offset=offset,
                          items=[DeadLetterOut.model_validate(r) for r in rows])


@router.get("/dead-letters/{letter_id:int}", response_model=DeadLetterOut, responses=NOT_FOUND)
def dead_letter(letter_id: RowId, session: SessionDep) -> DeadLetterOut:
    """One dead letter with its original body."""
    letter = get_dead_letter(session=session, letter_id=letter_id)
    if letter is None:
        raise HTTPException(status_code=404, detail=f"unknown dead letter {letter_id}")
    return DeadLetterOut.model_validate(letter)


@router.post("/dead-letters/{letter_id:int}/replay", status_code=202, response_model=TaskAccepted,
              responses={**NOT_FOUND, **ENQUEUE, **BAD_BODY})
def replay_dead_letter(letter_id: RowId, session: SessionDep, response: Response,
                       correction: Annotated[ReplayIn | None, Body()] = None) -> TaskAccepted:
    """Apply a dead letter again, as stored or with a corrected `body`; 422 if it is still invalid."""
    letter = get_dead_letter(session=session, letter_id=letter_id)
    if letter is None:
        raise HTTPException(status_code=404, detail=f"unknown dead letter {letter_id}")
    try:
        return _replay(session, letter, correction.body if correction else None, response)
    except InvalidMessage as exc:
        raise HTTPException(status_code=422, detail=[{"type": exc.reason, "loc": ["body"], "msg": str(exc)}]) from None


@router.post("/dead-letters/replay", response_model=BulkReplayOut, responses=ENQUEUE)
def bulk_replay(session: SessionDep, settings: SettingsDep, response: Response, queue: str | None = None,
                reason: str | None = None, since: Since = None, dry_run: bool = True,
                limit: Annotated[int, Query(ge=1, le=10_000)] = 1000) -> BulkReplayOut:
    """Replay every not-yet-replayed dead letter that matches (oldest first). `dry_run` (the default)
    only counts them."""
    letters = matching_dead_letters(session=session, filters=_filters(settings, queue, reason, since, False),
                                    limit=limit)
    if dry_run:
        return BulkReplayOut(dry_run=True, matched=len(letters), replayed=[], failed=[])
    replayed, failed = [], []
    for letter in letters:
        try:
            accepted = _replay(session, letter, None, response)
            replayed.append({"id": letter.id, "task_id": accepted.task_id})
        except InvalidMessage as exc:
            failed.append({"id": letter.id, "reason": exc.reason, "error": str(exc)})
    response.headers.pop("Location", None)
    return BulkReplayOut(dry_run=False, matched=len(letters), replayed=replayed, failed=failed)
