"""Churn endpoints: retrain on demand, the students most at risk, and the model registry."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.deps import IdempotencyKey, SessionDep
from api.enqueue import enqueue_or_503
from api.schemas.errors import ENQUEUE
from api.schemas.reports import ChurnRanking, ModelVersionOut, StudentRisk
from api.schemas.tasks import TaskAccepted
from taskplatform.gym.churn import top_risks
from taskplatform.messaging.celery_app import app as celery_app
from taskplatform.messaging.task_names import TaskName
from taskplatform.registry.versions import list_versions

router = APIRouter(tags=["churn"])

KIND = "churn"


@router.post("/relatorio/churn/atualizar-modelo", status_code=202, response_model=TaskAccepted, responses=ENQUEUE)
def update_churn_model(session: SessionDep, response: Response,
                       idempotency_key: IdempotencyKey = None) -> TaskAccepted:
    """Retrain the churn model in the background; `/tarefa/{id}` shows the stage and percent."""
    signature = celery_app.signature(TaskName.CHURN_RETRAIN.value)
    return enqueue_or_503(session=session, response=response, signature=signature, params=None,
                          idempotency_key=idempotency_key)


@router.get("/relatorio/churn", response_model=ChurnRanking)
def churn_ranking(session: SessionDep, limit: Annotated[int, Query(ge=1, le=10_000)] = 50) -> ChurnRanking:
    """Students by churn risk, highest first, with the main reasons in words."""
    rows = top_risks(session=session, limit=limit)
    students = [StudentRisk(aluno_id=score.aluno_id, nome=nome, probability=round(score.probability, 4),
                            reasons=score.reasons, model_version=score.model_version, scored_at=score.scored_at)
                for score, nome in rows]
    return ChurnRanking(model_version=students[0].model_version if students else None, students=students)


@router.get("/relatorio/churn/modelos", response_model=list[ModelVersionOut])
def churn_models(session: SessionDep) -> list[ModelVersionOut]:
    """Every trained churn model, newest first, with its metrics and the promotion decision."""
    return [ModelVersionOut.model_validate(v) for v in list_versions(session=session, kind=KIND)]
