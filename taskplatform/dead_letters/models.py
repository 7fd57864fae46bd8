"""The dead-letter store's table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from taskplatform.core.db import Base, BigIntId, JSONType, UTCDateTime, utcnow


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
