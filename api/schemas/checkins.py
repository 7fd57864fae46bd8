"""HTTP models of check-ins and students (the seed's field names: `aluno_id`, `data_hora`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StrictInt, StringConstraints

AlunoId = Annotated[StrictInt, Field(gt=0, le=2**63 - 1, description="Student id")]


class CheckinIn(BaseModel):
    """One check-in of `POST /checkin/batch`."""

    aluno_id: AlunoId
    data_hora: datetime | None = Field(
        default=None,
        description="ISO 8601 instant; without an offset it is local time in TIMEZONE. Default: when the "
                    "request is accepted.",
    )


class AlunoIn(BaseModel):
    """One student of `POST /alunos`."""

    aluno_id: AlunoId
    nome: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)] | None = None


class AlunosUpserted(BaseModel):
    upserted: int
