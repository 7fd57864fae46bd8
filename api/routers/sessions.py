"""UX session endpoints: the platform's own producer, and reading a stored session back."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool

from api.deps import IdempotencyKey, SessionDep, SettingsDep
from api.enqueue import enqueue_or_503
from api.item_batches import array_schema, each_valid, one_or_many
from api.schemas.errors import ENQUEUE, NOT_FOUND
from api.schemas.openapi import storable
from api.schemas.tasks import TaskAccepted
from storage.keys import session_key
from storage.s3 import get_object
from taskplatform.core.object_store import s3_location
from taskplatform.core.settings import Settings, get_settings
from taskplatform.messaging.celery_app import app as celery_app
from taskplatform.messaging.task_names import TaskName
from taskplatform.sessions.messages import parse_session

router = APIRouter(tags=["sessions"])


def _id_schema(length: int) -> dict[str, Any]:
    # An integer id is used as its decimal text: at most `length` characters, sign included.
    return {"anyOf": [{"type": "string", "minLength": 1, "maxLength": length,
                       "pattern": r"^(?!\.\.?$)[A-Za-z0-9._-]+$"},
                      {"type": "integer", "minimum": 1 - 10 ** (length - 1), "maximum": 10**length - 1}]}


def document_limits(paths: dict[str, Any], settings: Settings) -> None:
    """The session body in the OpenAPI document, its ids limited to the app's SESSION_ID_MAX_LENGTH (the routes
    are defined at import, before any settings are read)."""
    ids = _id_schema(settings.session_id_max_length)
    item = storable({"type": "object", "required": ["user_id", "session_uuid"], "additionalProperties": True,
                     "properties": {"user_id": ids, "session_uuid": ids}})
    example = {"user_id": "user_123", "session_uuid": "550e8400-e29b-41d4-a716-446655440000",
               "timestamp": "2024-01-01T12:00:00Z", "events": [], "metadata": {}}
    paths["/sessions"]["post"]["requestBody"] = {"required": True, "content": {"application/json": {
        "schema": array_schema(item, settings.sessions_batch_max, example), "example": example}}}


def _sessions(raw: bytes) -> tuple[list[dict[str, Any]], list[str], bool]:
    """The decoded sessions, their object keys and whether the body was an array; or InvalidMessage (a 422:
    `api.validation.answer_invalid_messages`)."""
    settings = get_settings()
    documents, array = one_or_many(raw, what="session", item_bytes=settings.max_body_bytes_sessions,
                                   max_items=settings.sessions_batch_max, limit_name="SESSIONS_BATCH_MAX")
    return documents, [parsed.key for parsed in each_valid(documents, parse_session, array=array)], array


@router.post("/sessions", status_code=202, response_model=TaskAccepted, responses=ENQUEUE)
async def post_session(request: Request, session: SessionDep, response: Response,
                       idempotency_key: IdempotencyKey = None) -> TaskAccepted:
    """Validate a session (the seed's format) and store it in the background; or an array of up to
    SESSIONS_BATCH_MAX sessions, stored by one task, each at its own key.

    Read strictly: `NaN` and `Infinity` are not JSON, so a session holding them is a 422 (its stored copy would not
    be JSON); so are ids longer than SESSION_ID_MAX_LENGTH (the object key has a size limit). In an array every
    session is validated before anything is enqueued, and a 422 names the item's index.
    """
    documents, keys, array = await run_in_threadpool(_sessions, await request.body())
    if array:
        kwargs: dict[str, Any] = {"sessions": documents}
        params: dict[str, Any] = {"sessions": len(documents), "key": keys[0]}
    else:
        kwargs, params = {"session": documents[0]}, {"key": keys[0]}
    signature = celery_app.signature(TaskName.SESSIONS_PERSIST.value, kwargs=kwargs)
    return await run_in_threadpool(enqueue_or_503, session=session, response=response, signature=signature,
                                   params=params, idempotency_key=idempotency_key)


@router.get("/sessions/{user_id}/{session_uuid}", response_class=Response,
            responses={200: {"content": {"application/json": {}}}, **NOT_FOUND})
async def get_session(user_id: str, session_uuid: str, settings: SettingsDep) -> Response:
    """The stored session, exactly as it was received; 404 if absent."""
    try:
        key = session_key(user_id, session_uuid)
    except ValueError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    body = await get_object(s3_location(settings), key)
    if body is None:
        raise HTTPException(status_code=404, detail=f"no session at {key}")
    return Response(content=body, media_type="application/json")
