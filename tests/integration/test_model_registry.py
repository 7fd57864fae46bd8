"""The model registry on the stacks' real databases."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from taskplatform.registry.models import ModelVersion
from taskplatform.registry.versions import register_version
from tests.integration.stack import Stack


def test_registering_a_version_twice_says_so_and_records_the_new_hashes(stack: Stack) -> None:
    """Breach caught: a repeated training taken for a new version (PostgreSQL reports no row count for an
    INSERT ... ON CONFLICT DO NOTHING), so the registry kept the hashes of bytes the store no longer holds and
    the next load refused the model."""
    version = f"probe-{uuid.uuid4().hex[:12]}"
    common = {"kind": "probe", "version": version, "artifact_key": f"models/probe/{version}/model.joblib",
              "metrics": {}, "params": {}, "data_hash": "d" * 64, "task_id": None}
    with Session(stack.engine) as session, session.begin():
        assert register_version(session=session, artifact_sha256="a" * 64, **common) is True
        assert register_version(session=session, artifact_sha256="b" * 64, json_sha256="c" * 64,
                                **common) is False
        stored = session.execute(select(ModelVersion.artifact_sha256, ModelVersion.json_sha256)
                                 .where(ModelVersion.kind == "probe", ModelVersion.version == version)).one()
        assert tuple(stored) == ("b" * 64, "c" * 64)
        session.execute(ModelVersion.__table__.delete().where(ModelVersion.version == version))
