"""Text-generation endpoints (the seed's `/api/predict` and `/api/result`), and the demo page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field, StrictFloat, StrictInt

from api.deps import IdempotencyKey, SessionDep
from api.enqueue import enqueue_or_503
from api.schemas.errors import BAD_BODY, ENQUEUE, NOT_FOUND
from taskplatform.ledger.records import get_task_record
from taskplatform.messaging.celery_app import app as celery_app
from taskplatform.messaging.task_names import TaskName
from taskplatform.textgen.generation import MAX_NEW_TOKENS_RANGE, MAX_PROMPT_CHARS, TEMPERATURE_RANGE

router = APIRouter(tags=["textgen"])

DEMO_PAGE = Path(__file__).resolve().parents[1] / "static" / "demo.html"


class PredictIn(BaseModel):
    #: No NUL character: the ledger's JSON columns refuse it on PostgreSQL (the Redis ledger keeps the prompt).
    text: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS, pattern=r"^[^\x00]*$",
                      examples=["Olá, você pode me ajudar?"])
    # The task's own limits (`GenerationParams`), checked before anything is queued.
    max_new_tokens: StrictInt = Field(default=48, ge=MAX_NEW_TOKENS_RANGE[0], le=MAX_NEW_TOKENS_RANGE[1])
    temperature: StrictFloat = Field(default=0.8, ge=TEMPERATURE_RANGE[0], le=TEMPERATURE_RANGE[1],
                                     description="0 means greedy (deterministic)")


class JobAccepted(BaseModel):
    job_id: str
    status_url: str


@router.post("/api/predict", response_model=JobAccepted, status_code=200, responses={**ENQUEUE, **BAD_BODY})
def predict(body: PredictIn, session: SessionDep, response: Response,
            idempotency_key: IdempotencyKey = None) -> JobAccepted:
    """Queue a generation; poll `/api/result/{job_id}`."""
    signature = celery_app.signature(TaskName.TEXTGEN_GENERATE.value, kwargs=body.model_dump())
    accepted = enqueue_or_503(session=session, response=response, signature=signature,
                              params={"chars": len(body.text)}, idempotency_key=idempotency_key)
    return JobAccepted(job_id=accepted.task_id, status_url=f"/api/result/{accepted.task_id}")


@router.get("/api/result/{job_id}", responses=NOT_FOUND)
def result(job_id: str, session: SessionDep) -> dict[str, Any]:
    """`{"result": {"content", "role": "assistant", "tool_calls": null}}` when done; else a status."""
    record = get_task_record(session=session, task_id=job_id)
    if record is None or record.name != TaskName.TEXTGEN_GENERATE.value:
        raise HTTPException(status_code=404, detail=f"unknown job {job_id!r}")
    if record.state == "SUCCESS":
        return {"status": record.state, "result": record.result}
    if record.state == "FAILURE":
        return {"status": record.state, "reason": f"{record.error_type}: {record.error_message}"}
    return {"status": record.state}


@router.get("/demo", include_in_schema=False)
def demo() -> FileResponse:
    """The seed's demo page: a text box that posts and polls every 2 seconds."""
    return FileResponse(DEMO_PAGE, media_type="text/html")
