"""Database tables: the task ledger, the gym (students, check-ins, reports, churn) and the model registry."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
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
        # An Idempotency-Key names one request of one caller (scope: its credential) for one task name.
        UniqueConstraint("name", "idempotency_scope", "idempotency_key",
                         name="uq_task_records_name_idempotency_scope_key"),
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
    # message lost between the broker and a killed worker can be published again (taskplatform/redelivery.py).
    message: Mapped[dict[str, Any] | None] = mapped_column(JSONType, deferred=True)
    redelivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


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


class DailyReport(Base):
    """The attendance report of one local date (one row per date: a re-run replaces it)."""

    __tablename__ = "daily_reports"

    data: Mapped[date] = mapped_column(Date, primary_key=True)
    content: Mapped[dict[str, Any]] = mapped_column(JSONType)
    chart_key: Mapped[str | None] = mapped_column(String(300))
    task_id: Mapped[str | None] = mapped_column(String(64))
    generated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ModelVersion(Base):
    """A trained model in the registry: artifact in the object store, the rest here."""

    __tablename__ = "model_versions"
    __table_args__ = (
        UniqueConstraint("kind", "version", name="uq_model_versions_kind_version"),
        # At most one active version per kind.
        Index("uq_model_versions_active_kind", "kind", unique=True,
              postgresql_where=text("active"), sqlite_where=text("active")),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(50))
    version: Mapped[str] = mapped_column(String(64))
    artifact_key: Mapped[str] = mapped_column(String(300))
    # sha256 of the joblib bytes, checked before unpickling; None for versions trained before migration 0006.
    artifact_sha256: Mapped[str | None] = mapped_column(String(64))
    # sha256 of the model's plain-data form (JSON, `model_json_key`) when it has one: loaded instead of the pickle.
    json_sha256: Mapped[str | None] = mapped_column(String(64))
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONType)
    params: Mapped[dict[str, Any]] = mapped_column(JSONType)
    data_hash: Mapped[str] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    decision: Mapped[str | None] = mapped_column(Text)
    predictions_served: Mapped[int] = mapped_column(BigInteger, default=0)
    task_id: Mapped[str | None] = mapped_column(String(64))
    trained_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ChurnScore(Base):
    """The latest churn risk of each student, written by the last scoring run."""

    __tablename__ = "churn_scores"
    __table_args__ = (Index("ix_churn_scores_probability", "probability"),)

    aluno_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("alunos.id", ondelete="CASCADE"), primary_key=True)
    probability: Mapped[float] = mapped_column(Float)
    reasons: Mapped[list[str]] = mapped_column(JSONType)
    model_version: Mapped[str] = mapped_column(String(64))
    scored_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DeadLetter(Base):
    """A message or task that could not be applied, with its original body and why."""

    __tablename__ = "dead_letters"
    __table_args__ = (
        Index("ix_dead_letters_queue_created_at", "queue", "created_at"),
        Index("ix_dead_letters_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    queue: Mapped[str] = mapped_column(String(200))
    task_name: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(String(100))
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    body: Mapped[str] = mapped_column(Text)
    headers: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    replayed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    replay_task_id: Mapped[str | None] = mapped_column(String(64))


class DeviceStatus(Base):
    """The latest health check of each Raspberry Pi (the seed's `DeviceStatus`)."""

    __tablename__ = "device_status"
    __table_args__ = (Index("ix_device_status_last_update", "last_update"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    raspberry_id: Mapped[str] = mapped_column(String(200), unique=True)
    wifi_status: Mapped[str | None] = mapped_column(String(100))
    mem_usage: Mapped[str | None] = mapped_column(String(100))
    cpu_temp: Mapped[str | None] = mapped_column(String(100))
    led_internal_status: Mapped[bool] = mapped_column(Boolean, default=False)
    led_external_status: Mapped[bool] = mapped_column(Boolean, default=False)
    cpu_percent: Mapped[float | None] = mapped_column(Float)
    gpio_used_count: Mapped[int | None] = mapped_column(Integer)
    spi_buses: Mapped[Any | None] = mapped_column(JSONType)
    i2c_buses: Mapped[Any | None] = mapped_column(JSONType)
    usb_devices_count: Mapped[int | None] = mapped_column(Integer)
    net_bytes_sent: Mapped[int | None] = mapped_column(BigInteger)
    net_bytes_recv: Mapped[int | None] = mapped_column(BigInteger)
    net_ifaces: Mapped[Any | None] = mapped_column(JSONType)
    #: Fields the device sent that the table has no column for (kept, not dropped).
    extra: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_update: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DeviceMessage(Base):
    """The last raw health-check messages received (bounded; for debugging)."""

    __tablename__ = "device_messages"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    raspberry_id: Mapped[str | None] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
