"""Database tables: the task ledger and the gym's students and check-ins."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from taskplatform.db import Base, UTCDateTime, utcnow

JSONType = JSON().with_variant(JSONB(), "postgresql")
#: SQLite only autoincrements an INTEGER PRIMARY KEY.
BigIntId = BigInteger().with_variant(Integer(), "sqlite")


class TaskRecord(Base):
    """One row per task, from the moment it is requested (the `/tarefa/{id}` contract)."""

    __tablename__ = "task_records"
    __table_args__ = (
        UniqueConstraint("name", "idempotency_key", name="uq_task_records_name_idempotency_key"),
        Index("ix_task_records_created_at", "created_at"),
        Index("ix_task_records_state_created_at", "state", "created_at"),
        Index("ix_task_records_name_created_at", "name", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    queue: Mapped[str | None] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(20))
    progress: Mapped[int | None] = mapped_column(Integer)
    progress_message: Mapped[str | None] = mapped_column(Text)
    params: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    result: Mapped[Any | None] = mapped_column(JSONType)
    error_type: Mapped[str | None] = mapped_column(String(200))
    error_message: Mapped[str | None] = mapped_column(Text)
    traceback: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    runtime_s: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TaskEvent(Base):
    """Each state transition of a task, in order."""

    __tablename__ = "task_events"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("task_records.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONType)


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
