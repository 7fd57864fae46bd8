"""Gym check-in endpoints: `POST /checkin/batch` and `POST /alunos`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Body, HTTPException, Response

from api.deps import IdempotencyKey, SessionDep, SettingsDep
from api.schemas.checkins import AlunoIn, AlunosUpserted, CheckinIn
from api.schemas.tasks import TaskAccepted
from taskplatform.checkins import upsert_alunos
from taskplatform.enqueue import PublishFailed, enqueue_tracked
from taskplatform.settings import get_settings
from tasks.checkins import ingest_batch

router = APIRouter(tags=["checkins"])

MAX_ITEMS = get_settings().checkin_batch_max


@router.post("/checkin/batch", status_code=202, response_model=TaskAccepted)
def checkin_batch(
    body: Annotated[list[CheckinIn], Body(min_length=1, max_length=MAX_ITEMS)],
    session: SessionDep,
    settings: SettingsDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> TaskAccepted:
    """Accept up to 10,000 check-ins and store them in the background (one task per batch)."""
    accepted_at = datetime.now(UTC).replace(microsecond=0).isoformat()
    tz = settings.tz
    instants = [
        accepted_at if item.data_hora is None
        else (item.data_hora if item.data_hora.tzinfo else item.data_hora.replace(tzinfo=tz)).astimezone(UTC)
        .isoformat()
        for item in body
    ]
    signature = ingest_batch.s(aluno_ids=[item.aluno_id for item in body], instants=instants)
    try:
        enqueued = enqueue_tracked(session=session, signature=signature, params={"items": len(body)},
                                   idempotency_key=idempotency_key)
    except PublishFailed as exc:
        raise HTTPException(status_code=503, detail=str(exc)) from exc
    record = enqueued.record
    response.headers["Location"] = f"/tarefa/{record.id}"
    return TaskAccepted(task_id=record.id, status_url=f"/tarefa/{record.id}", state=record.state)


@router.post("/alunos", response_model=AlunosUpserted)
def upsert_students(
    body: Annotated[list[AlunoIn], Body(min_length=1, max_length=MAX_ITEMS)],
    session: SessionDep,
) -> AlunosUpserted:
    """Create or rename students in bulk (idempotent; the last entry for an id wins)."""
    latest = {item.aluno_id: item.nome for item in body}
    count = upsert_alunos(connection=session.connection(), alunos=list(latest.items()))
    session.commit()
    return AlunosUpserted(upserted=count)
