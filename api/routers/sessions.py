"""UX session endpoints: the platform's own producer, and reading a stored session back."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Response

from api.deps import IdempotencyKey, SessionDep, SettingsDep
from api.enqueue import enqueue_or_503
from api.schemas.errors import BAD_BODY, ENQUEUE, NOT_FOUND
from api.schemas.ingestion import session_schema
from api.schemas.tasks import TaskAccepted
from storage.keys import session_key
from storage.s3 import get_object
from taskplatform.celery_app import app as celery_app
from taskplatform.object_store import s3_location
from taskplatform.raw_messages import InvalidMessage
from taskplatform.sessions import parse_session

router = APIRouter(tags=["sessions"])


@router.post("/sessions", status_code=202, response_model=TaskAccepted, responses={**ENQUEUE, **BAD_BODY},
             openapi_extra={"requestBody": {"content": {"application/json": {"schema": session_schema()}}}})
def post_session(session_doc: Annotated[dict[str, Any], Body(examples=[{
                     "user_id": "user_123", "session_uuid": "550e8400-e29b-41d4-a716-446655440000",
                     "timestamp": "2024-01-01T12:00:00Z", "events": [], "metadata": {}}])],
                 session: SessionDep, response: Response, idempotency_key: IdempotencyKey = None) -> TaskAccepted:
    """Validate a session (the seed's format) and store it in the background."""
    try:
        parsed = parse_session(session_doc)
    except InvalidMessage as exc:
        raise HTTPException(status_code=422, detail=[{"type": exc.reason, "loc": ["body"], "msg": str(exc)}]) from None
    signature = celery_app.signature("sessions.persist", kwargs={"session": session_doc})
    return enqueue_or_503(session=session, response=response, signature=signature, params={"key": parsed.key},
                          idempotency_key=idempotency_key)


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
