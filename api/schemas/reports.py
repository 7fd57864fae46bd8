"""HTTP models of the churn ranking and the model registry."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class StudentRisk(BaseModel):
    aluno_id: int
    nome: str | None
    probability: float
    reasons: list[str]
    model_version: str
    scored_at: datetime


class ChurnRanking(BaseModel):
    model_version: str | None
    students: list[StudentRisk]


class ModelVersionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    kind: str
    version: str
    active: bool
    metrics: dict[str, Any]
    params: dict[str, Any]
    data_hash: str
    decision: str | None
    predictions_served: int
    trained_at: datetime
    activated_at: datetime | None
