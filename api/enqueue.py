"""Enqueue from a route: the ledger record, the 202 body, a 422 for a reused key, a 503 when the broker refuses."""

from __future__ import annotations

from typing import Any

from celery.canvas import Signature
from fastapi import HTTPException, Response
from sqlalchemy.orm import Session

from api.schemas.tasks import TaskAccepted
from taskplatform.ledger.enqueue import PublishFailed, enqueue_tracked
from taskplatform.ledger.idempotency import IdempotencyKeyReused, ScopedKey


def enqueue_or_503(*, session: Session, response: Response, signature: Signature, params: dict[str, Any] | None,
                   idempotency_key: ScopedKey | None, rerun_of: str | None = None) -> TaskAccepted:
    try:
        enqueued = enqueue_tracked(session=session, signature=signature, params=params, idempotency=idempotency_key,
                                   rerun_of=rerun_of)
    except IdempotencyKeyReused as exc:
        raise HTTPException(status_code=422, detail=[{
            "type": "idempotency_key_reused", "loc": ["header", "Idempotency-Key"], "input": exc.key,
            "msg": "Idempotency-Key reused with a different request body (or query): use a new key for a new request",
        }]) from None
    except PublishFailed as exc:
        raise HTTPException(status_code=503, detail=str(exc), headers={"Retry-After": "1"}) from exc
    response.headers["Location"] = f"/tarefa/{enqueued.task_id}"
    return TaskAccepted(task_id=enqueued.task_id, status_url=f"/tarefa/{enqueued.task_id}", state=enqueued.state)
