"""Gym check-in endpoints: `POST /checkin/batch` and `POST /alunos`."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import BeforeValidator, TypeAdapter, ValidationError
from pydantic_core import PydanticCustomError

from api.deps import IdempotencyKey, SessionDep, SettingsDep
from api.enqueue import enqueue_or_503
from api.schemas.checkins import AlunoIn, AlunosUpserted, CheckinIn, checkin_batch_adapter, normalized_instants
from api.schemas.errors import BAD_BODY, ENQUEUE
from api.schemas.tasks import TaskAccepted
from api.validation import body_errors
from taskplatform.core.settings import Settings, get_settings
from taskplatform.gym.checkins import upsert_alunos
from taskplatform.messaging.celery_app import app as celery_app
from taskplatform.messaging.task_names import TaskName

router = APIRouter(tags=["checkins"])

_BATCH_EXAMPLE = [{"aluno_id": 1}, {"aluno_id": 2, "data_hora": "2026-11-21T07:30:00-03:00"}]


@cache
def _batch(max_items: int) -> TypeAdapter[list[CheckinIn]]:
    """The batch validator for CHECKIN_BATCH_MAX (built once per limit: building one costs milliseconds)."""
    return checkin_batch_adapter(max_items)


def _at_most_batch_max(value: Any) -> Any:
    """CHECKIN_BATCH_MAX, read per request, checked before the items as pydantic's own `max_length` is."""
    limit = get_settings().checkin_batch_max
    if isinstance(value, list) and len(value) > limit:
        raise PydanticCustomError("too_long", "List should have at most {max_length} items after validation, "
                                  "not {actual_length}",
                                  {"field_type": "List", "max_length": limit, "actual_length": len(value)})
    return value


def document_limits(paths: dict[str, Any], settings: Settings) -> None:
    """The request bodies' limits in the OpenAPI document, from the app's settings: the routes are defined at
    import, before any settings are read."""
    paths["/checkin/batch"]["post"]["requestBody"] = {"required": True, "content": {"application/json": {
        "schema": _batch(settings.checkin_batch_max).json_schema(), "example": _BATCH_EXAMPLE}}}
    body = paths["/alunos"]["post"]["requestBody"]["content"]["application/json"]
    body["schema"] = {"items": body["schema"]["items"], "type": "array", "maxItems": settings.checkin_batch_max,
                      **{key: value for key, value in body["schema"].items() if key not in ("items", "type")}}


@router.post("/checkin/batch", status_code=202, response_model=TaskAccepted, responses=ENQUEUE)
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
        items = _batch(settings.checkin_batch_max).validate_json(await request.body())
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
    body: Annotated[list[AlunoIn], Body(min_length=1), BeforeValidator(_at_most_batch_max)],
    session: SessionDep,
) -> AlunosUpserted:
    """Create or rename students in bulk (idempotent; the last entry for an id wins)."""
    latest = {item.aluno_id: item.nome for item in body}
    count = upsert_alunos(session=session, alunos=list(latest.items()))
    session.commit()
    return AlunosUpserted(upserted=count)
