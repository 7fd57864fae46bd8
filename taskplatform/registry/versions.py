"""The model registry: versions, metrics and which version of each kind is active."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from taskplatform.core.db import dialect_insert, utcnow
from taskplatform.registry.models import ModelVersion


def version_id(kind: str, data_hash: str, params: dict[str, Any]) -> str:
    """Content-addressed: the same data and parameters give the same version."""
    digest = hashlib.sha256(f"{data_hash}:{json.dumps(params, sort_keys=True, default=str)}".encode()).hexdigest()
    return f"{kind}-{digest[:12]}"


def register_version(*, session: Session, kind: str, version: str, artifact_key: str,
                     metrics: dict[str, Any], params: dict[str, Any], data_hash: str, task_id: str | None,
                     artifact_sha256: str, json_sha256: str | None = None) -> bool:
    """Add a version with the sha256 of the artifact bytes just stored; False when it was already registered
    (a retried or repeated training).

    A repeated training has just overwritten the artifact at the same key, so the stored hashes become those
    of its bytes: the registry always describes what is in the store now.
    """
    stmt = dialect_insert(session, ModelVersion.__table__).values(
        kind=kind, version=version, artifact_key=artifact_key, artifact_sha256=artifact_sha256,
        json_sha256=json_sha256, metrics=metrics, params=params, data_hash=data_hash,
        active=False, predictions_served=0, task_id=task_id, trained_at=utcnow(),
    ).on_conflict_do_nothing().returning(ModelVersion.__table__.c.version)
    # RETURNING, not rowcount: SQLAlchemy with psycopg reports -1 for an INSERT, inserted or skipped.
    if session.execute(stmt).first() is not None:
        return True
    table = ModelVersion.__table__
    session.execute(update(table).where(table.c.kind == kind, table.c.version == version)
                    .values(artifact_key=artifact_key, artifact_sha256=artifact_sha256, json_sha256=json_sha256))
    return False


def get_version(*, session: Session, kind: str, version: str) -> ModelVersion | None:
    # populate_existing: the registry writes with Core statements, which do not refresh an object the session
    # already holds, so a read after a write in the same session would otherwise show the old values.
    return session.scalars(select(ModelVersion).where(ModelVersion.kind == kind, ModelVersion.version == version)
                           .execution_options(populate_existing=True)).first()


def active_version(*, session: Session, kind: str) -> ModelVersion | None:
    return session.scalars(select(ModelVersion).where(ModelVersion.kind == kind, ModelVersion.active.is_(True))
                           .execution_options(populate_existing=True)).first()


def activate_version(*, session: Session, kind: str, version: str) -> None:
    """Make `version` the only active one of its kind (in the caller's transaction)."""
    table = ModelVersion.__table__
    session.execute(update(table).where(table.c.kind == kind, table.c.active.is_(True),
                                        table.c.version != version).values(active=False))
    session.execute(update(table).where(table.c.kind == kind, table.c.version == version)
                    .values(active=True, activated_at=utcnow()))


def record_decision(*, session: Session, kind: str, version: str, decision: str) -> None:
    table = ModelVersion.__table__
    session.execute(update(table).where(table.c.kind == kind, table.c.version == version)
                    .values(decision=decision))


def add_predictions_served(*, session: Session, kind: str, served: dict[str, int]) -> None:
    """Add counts of predictions served to their versions (one UPDATE per version)."""
    table = ModelVersion.__table__
    for version, count in served.items():
        session.execute(update(table).where(table.c.kind == kind, table.c.version == version)
                        .values(predictions_served=table.c.predictions_served + count))


def list_versions(*, session: Session, kind: str) -> list[ModelVersion]:
    return list(session.scalars(select(ModelVersion).where(ModelVersion.kind == kind)
                                .order_by(ModelVersion.trained_at.desc(), ModelVersion.id.desc())))
