"""The gym's tables: students, check-ins, daily reports and churn scores."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Date,
    Float,
    ForeignKey,
    Index,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from taskplatform.core.db import Base, JSONType, UTCDateTime, utcnow


class Aluno(Base):
    """A gym student; `id` is the seed's `aluno_id`."""

    __tablename__ = "alunos"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    nome: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Checkin(Base):
    """One check-in; a student checks in at most once per instant (the natural key)."""

    __tablename__ = "checkins"
    __table_args__ = (Index("ix_checkins_data_hora", "data_hora"),)

    aluno_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("alunos.id"), primary_key=True)
    data_hora: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)


class DailyReport(Base):
    """The attendance report of one local date (one row per date: a re-run replaces it)."""

    __tablename__ = "daily_reports"

    data: Mapped[date] = mapped_column(Date, primary_key=True)
    content: Mapped[dict[str, Any]] = mapped_column(JSONType)
    chart_key: Mapped[str | None] = mapped_column(String(300))
    task_id: Mapped[str | None] = mapped_column(String(64))
    generated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ChurnScore(Base):
    """The latest churn risk of each student, written by the last scoring run."""

    __tablename__ = "churn_scores"
    __table_args__ = (Index("ix_churn_scores_probability", "probability"),)

    aluno_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("alunos.id", ondelete="CASCADE"), primary_key=True)
    probability: Mapped[float] = mapped_column(Float)
    reasons: Mapped[list[str]] = mapped_column(JSONType)
    model_version: Mapped[str] = mapped_column(String(64))
    scored_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
