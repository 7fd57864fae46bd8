"""Gym check-in endpoints: `POST /checkin/batch` and `POST /alunos`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from api.deps import IdempotencyKey, SessionDep, SettingsDep
from api.enqueue import enqueue_or_503
from api.schemas.checkins import AlunoIn, AlunosUpserted, checkin_batch_adapter, normalized_instants
from api.schemas.errors import BAD_BODY, ENQUEUE
from api.schemas.tasks import TaskAccepted
from api.validation import body_errors
from taskplatform.core.settings import get_settings
from taskplatform.gym.checkins import upsert_alunos
from taskplatform.messaging.celery_app import app as celery_app
from taskplatform.messaging.task_names import TaskName

router = APIRouter(tags=["checkins"])

MAX_ITEMS = get_settings().checkin_batch_max
_BATCH = checkin_batch_adapter(MAX_ITEMS)
_BATCH_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": _BATCH.json_schema(),
    "example": [{"aluno_id": 1}, {"aluno_id": 2, "data_hora": "2026-11-21T07:30:00-03:00"}]}}}}


@router.post("/checkin/batch", status_code=202, response_model=TaskAccepted, responses=ENQUEUE,
             openapi_extra=_BATCH_BODY)
async def checkin_batch(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> TaskAccepted:
    """Accept up to 10,000 check-ins (`[{"aluno_id": 1}, ...]`) and store them in the background.

    Each item may carry `data_hora`. Anything malformed is a 422 naming the item's index,
    and then nothing is enqueued.
    """
    try:
        items = _BATCH.validate_json(await request.body())
    except ValidationError as exc:
        raise RequestValidationError(body_errors(exc)) from None
    accepted_at = datetime.now(UTC).replace(microsecond=0).isoformat()
    instants, errors = normalized_instants(items, local=settings.tz, default=accepted_at)
    if errors:
        raise RequestValidationError(errors)
    signature = celery_app.signature(TaskName.CHECKINS_INGEST_BATCH.value,
                                     kwargs={"aluno_ids": [item["aluno_id"] for item in items], "instants": instants})
    return await run_in_threadpool(enqueue_or_503, session=session, response=response, signature=signature,
                                   params={"items": len(items)}, idempotency_key=idempotency_key)


@router.post("/alunos", response_model=AlunosUpserted, responses=BAD_BODY)
def upsert_students(
    body: Annotated[list[AlunoIn], Body(min_length=1, max_length=MAX_ITEMS)],
    session: SessionDep,
) -> AlunosUpserted:
    """Create or rename students in bulk (idempotent; the last entry for an id wins)."""
    latest = {item.aluno_id: item.nome for item in body}
    count = upsert_alunos(session=session, alunos=list(latest.items()))
    session.commit()
    return AlunosUpserted(upserted=count)
