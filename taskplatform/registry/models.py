"""The model registry's table: every model version of every kind."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from taskplatform.core.db import Base, BigIntId, JSONType, UTCDateTime, utcnow


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
