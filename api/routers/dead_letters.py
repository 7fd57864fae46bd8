"""Dead-letter endpoints: list, inspect and replay what could not be applied."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, HTTPException, Query, Response
from sqlalchemy.orm import Session

from api.deps import SessionDep
from api.enqueue import enqueue_or_503
from api.schemas.errors import BAD_BODY, ENQUEUE, NOT_FOUND
from api.schemas.ingestion import (
    BulkReplayOut,
    DeadLetterList,
    DeadLetterOut,
    FailedReplay,
    ReplayedLetter,
    ReplayIn,
)
from api.schemas.params import IsoDatetime
from api.schemas.tasks import TaskAccepted
from api.validation import FilterText, Offset, RowId, UtcMoment
from taskplatform.dead_letters.models import DeadLetter
from taskplatform.dead_letters.replay import replay_for
from taskplatform.dead_letters.store import (
    AlreadyReplayed,
    DeadLetterFilter,
    claim_for_replay,
    get_dead_letter,
    list_dead_letters,
    mark_replayed,
    matching_dead_letters,
    release_claim,
)
from taskplatform.messaging.celery_app import app as celery_app
from taskplatform.messaging.raw_messages import InvalidMessage

router = APIRouter(tags=["dead-letters"])

Since = Annotated[IsoDatetime | None, UtcMoment,
                  Query(description="created at or after (ISO 8601; local TIMEZONE without offset)")]


def _replay(session: Session, letter: DeadLetter, body: object | None, response: Response) -> TaskAccepted:
    """Replay one letter as a unit of its own.

    1. Work out the task (InvalidMessage if the body cannot become one: nothing is changed).
    2. Claim the letter (AlreadyReplayed if it may not be replayed again) and write the task's
       QUEUED record: one commit, inside `enqueue_tracked`, so a letter is never marked without
       its ledger record nor replayed by two requests at once.
    3. Publish; if the broker refuses, the record is removed and the claim released (503), so the
       letter can be replayed later. 4. Note the task id on the letter and commit.
    """
    replay = replay_for(letter, body)
    claim = claim_for_replay(session=session, letter_id=letter.id)
    signature = celery_app.signature(replay.task_name, args=replay.args, kwargs=replay.kwargs)
    try:
        accepted = enqueue_or_503(session=session, response=response, signature=signature,
                                  params={"dead_letter_id": letter.id}, idempotency_key=None)
    except HTTPException:
        session.rollback()
        release_claim(session=session, claim=claim)
        session.commit()
        raise
    mark_replayed(session=session, letter_id=letter.id, task_id=accepted.task_id)
    session.commit()
    return accepted


@router.get("/dead-letters", response_model=DeadLetterList)
def dead_letters(session: SessionDep, queue: FilterText = None, reason: FilterText = None,
                 since: Since = None, replayed: bool | None = None,
                 limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                 offset: Offset = 0) -> DeadLetterList:
    """Dead letters, newest first, filtered by queue, reason, time and whether they were replayed."""
    filters = DeadLetterFilter(queue=queue, reason=reason, since=since, replayed=replayed)
    page = list_dead_letters(session=session, filters=filters, limit=limit, offset=offset)
    return DeadLetterList.of(page, [DeadLetterOut.model_validate(r) for r in page.items])


@router.get("/dead-letters/{letter_id:int}", response_model=DeadLetterOut, responses=NOT_FOUND)
def dead_letter(letter_id: RowId, session: SessionDep) -> DeadLetterOut:
    """One dead letter with its original body."""
    letter = get_dead_letter(session=session, letter_id=letter_id)
    if letter is None:
        raise HTTPException(status_code=404, detail=f"unknown dead letter {letter_id}")
    return DeadLetterOut.model_validate(letter)


@router.post("/dead-letters/{letter_id:int}/replay", status_code=202, response_model=TaskAccepted,
             responses={**NOT_FOUND, **ENQUEUE, **BAD_BODY,
                        409: {"description": "already replayed, and that replay has not failed"}})
def replay_dead_letter(letter_id: RowId, session: SessionDep, response: Response,
                       correction: Annotated[ReplayIn | None, Body()] = None) -> TaskAccepted:
    """Apply a dead letter again, as stored or with a corrected `body`.

    422 (naming `body`) if it still cannot be applied: not JSON, not a valid message, or a task's
    arguments of the wrong shape. A letter is replayed once: 409 if it was already replayed, unless
    that replay's task ended in FAILURE, REVOKED or CANCELED (then it may be replayed again, e.g. corrected).
    """
    letter = get_dead_letter(session=session, letter_id=letter_id)
    if letter is None:
        raise HTTPException(status_code=404, detail=f"unknown dead letter {letter_id}")
    corrected = correction is not None and correction.body is not None
    try:
        return _replay(session, letter, correction.body if correction else None, response)
    except InvalidMessage as exc:  # a 422 naming the request's `body` field, whatever the message's own field
        which = "the corrected body" if corrected else "the stored body"
        raise InvalidMessage(exc.reason, f"{which} cannot be applied: {exc}", ("body",)) from None
    except AlreadyReplayed as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from None


@router.post("/dead-letters/replay", response_model=BulkReplayOut, responses=ENQUEUE)
def bulk_replay(session: SessionDep, queue: str | None = None,
                reason: str | None = None, since: Since = None, dry_run: bool = True,
                limit: Annotated[int, Query(ge=1, le=10_000)] = 1000) -> BulkReplayOut:
    """Replay every not-yet-replayed dead letter that matches (oldest first). `dry_run` (the default)
    only counts them.

    Each letter is replayed as its own unit (see `_replay`): committed and published before the
    next one starts. A letter that cannot be applied is listed in `failed` with its reason and left
    as it was, and the replay goes on. If the broker refuses a message the replay stops there
    (`stopped`): the letters before it are replayed and marked, that one and the rest are untouched
    and still match, so calling again continues where it stopped; nothing is replayed twice, since
    a replayed letter no longer matches and a letter is claimed before its task is published.
    """
    filters = DeadLetterFilter(queue=queue, reason=reason, since=since, replayed=False)
    letters = matching_dead_letters(session=session, filters=filters, limit=limit)
    if dry_run:
        return BulkReplayOut(dry_run=True, matched=len(letters), replayed=[], failed=[])
    replayed: list[ReplayedLetter] = []
    failed: list[FailedReplay] = []
    stopped: str | None = None
    for letter in letters:
        try:
            accepted = _replay(session, letter, None, Response())
        except InvalidMessage as exc:
            failed.append(FailedReplay(id=letter.id, reason=exc.reason, error=str(exc)))
        except AlreadyReplayed as exc:
            failed.append(FailedReplay(id=letter.id, reason="already_replayed", error=str(exc)))
        except HTTPException as exc:  # 503 from enqueue_or_503: the broker refused the message
            failed.append(FailedReplay(id=letter.id, reason="broker_unavailable", error=str(exc.detail)))
            stopped = f"the broker refused the replay of dead letter {letter.id}"
            break
        else:
            replayed.append(ReplayedLetter(id=letter.id, task_id=accepted.task_id))
    return BulkReplayOut(dry_run=False, matched=len(letters), replayed=replayed, failed=failed, stopped=stopped)
