"""The ledger's tables: one record per task, and its transitions as events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from taskplatform.core.db import Base, BigIntId, JSONType, UTCDateTime, utcnow


class TaskRecord(Base):
    """One row per task, from the moment it is requested (the `/tarefa/{id}` contract)."""

    __tablename__ = "task_records"
    __table_args__ = (
        # An Idempotency-Key names one request of one caller (scope: its credential) for one task name.
        UniqueConstraint("name", "idempotency_scope", "idempotency_key",
                         name="uq_task_records_name_idempotency_scope_key"),
        # One per listing filter, in the listing's order (taskplatform/ledger/listing.py; migration 0008).
        Index("ix_task_records_created_at_id", "created_at", "id"),
        Index("ix_task_records_state_created_at_id", "state", "created_at", "id"),
        Index("ix_task_records_name_created_at_id", "name", "created_at", "id"),
        Index("ix_task_records_queue_created_at_id", "queue", "created_at", "id"),
        Index("ix_task_records_rerun_of", "rerun_of"),
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
    #: Who used the key (the credential id, or "anonymous"); set whenever idempotency_key is.
    idempotency_scope: Mapped[str | None] = mapped_column(String(200))
    #: sha256 of the keyed request (method, path, query, body): the same key with another request is refused.
    request_hash: Mapped[str | None] = mapped_column(String(64))
    runtime_s: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Redis only: the published message's args and kwargs, kept until a worker starts the task, so a
    # message lost between the broker and a killed worker can be published again (taskplatform/ledger/redelivery.py).
    message: Mapped[dict[str, Any] | None] = mapped_column(JSONType, deferred=True)
    redelivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: When the task was cancelled, and by whom (the credential id, or "anonymous").
    canceled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    canceled_by: Mapped[str | None] = mapped_column(String(200))
    #: The task this one re-runs (`POST /tarefa/{id}/reexecutar`).
    rerun_of: Mapped[str | None] = mapped_column(String(64))
    #: `{"args": [...], "kwargs": {...}}` as enqueued, kept for re-runs (null when too large, or enqueued before
    #: migration 0007); deferred: only a re-run reads it.
    arguments: Mapped[dict[str, Any] | None] = mapped_column(JSONType, deferred=True)


class TaskEvent(Base):
    """Each state transition of a task, in order."""

    __tablename__ = "task_events"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("task_records.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
