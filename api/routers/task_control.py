"""Task control: `POST /tarefa/{task_id}/cancelar` and `POST /tarefa/{task_id}/reexecutar`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response

from api.deps import SessionDep
from api.enqueue import enqueue_or_503
from api.schemas.errors import ENQUEUE, NOT_FOUND, ErrorOut
from api.schemas.tasks import TaskCancelOut, TaskRerunAccepted
from api.validation import PathText
from taskplatform.ledger.cancellation import NotFound, Refused, cancel_task, rerun_source
from taskplatform.ledger.idempotency import idempotency_scope
from taskplatform.messaging.celery_app import app as celery_app

router = APIRouter(tags=["tasks"])

_CANCEL_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorOut, "description": "the task is finished, or running and unable to stop midway (says why)"}}
_RERUN_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorOut, "description": "the task is not FAILURE or CANCELED, or its arguments were not kept"}}


def _unknown(task_id: str) -> HTTPException:
    return HTTPException(status_code=404, detail=f"unknown task id {task_id!r}")


@router.post("/tarefa/{task_id}/cancelar", status_code=202, response_model=TaskCancelOut,
             responses={**NOT_FOUND, **_CANCEL_CONFLICT})
def cancel(task_id: PathText, request: Request, session: SessionDep) -> TaskCancelOut:
    """Cancel a task. Queued (or waiting to retry): CANCELED at once, and it never runs, even if its message is
    delivered again. Running: CANCELING, then CANCELED at its next progress point, for tasks that have them
    (reports, churn retraining, housing training, text generation); others answer 409. Final: 409."""
    by = idempotency_scope(getattr(request.state, "credential_id", None))
    try:
        state = cancel_task(session=session, task_id=task_id, by=by)
    except NotFound:
        raise _unknown(task_id) from None
    except Refused as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from None
    return TaskCancelOut(task_id=task_id, state=state)


@router.post("/tarefa/{task_id}/reexecutar", status_code=202, response_model=TaskRerunAccepted,
             responses={**NOT_FOUND, **_RERUN_CONFLICT, **ENQUEUE})
def rerun(task_id: PathText, session: SessionDep, response: Response) -> TaskRerunAccepted:
    """Enqueue a FAILURE or CANCELED task again with the same arguments, as a new task pointing back to it
    (`reexecucao_de`); 409 for any other state, or when its arguments were not kept (larger than 64 KiB of
    JSON, or enqueued before they were kept)."""
    try:
        source = rerun_source(session=session, task_id=task_id)
    except NotFound:
        raise _unknown(task_id) from None
    except Refused as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from None
    session.rollback()  # end the read before enqueueing commits its own record
    signature = celery_app.signature(source.name, args=source.args, kwargs=source.kwargs)
    accepted = enqueue_or_503(session=session, response=response, signature=signature, params=source.params,
                              idempotency_key=None, rerun_of=task_id)
    return TaskRerunAccepted(**accepted.model_dump(), reexecucao_de=task_id)
