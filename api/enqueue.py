"""Enqueue from a route: the ledger record, the 202 body, and a 503 when the broker refuses."""

from __future__ import annotations

from typing import Any

from celery.canvas import Signature
from fastapi import HTTPException, Response
from sqlalchemy.orm import Session

from api.schemas.tasks import TaskAccepted
from taskplatform.enqueue import PublishFailed, enqueue_tracked


def enqueue_or_503(*, session: Session, response: Response, signature: Signature, params: dict[str, Any] | None,
                   idempotency_key: str | None) -> TaskAccepted:
    try:
        enqueued = enqueue_tracked(session=session, signature=signature, params=params,
                                   idempotency_key=idempotency_key)
    except PublishFailed as exc:
        raise HTTPException(status_code=503, detail=str(exc), headers={"Retry-After": "1"}) from exc
    record = enqueued.record
    response.headers["Location"] = f"/tarefa/{record.id}"
    return TaskAccepted(task_id=record.id, status_url=f"/tarefa/{record.id}", state=record.state)
