"""Check-in tasks: bulk ingestion of a batch accepted by `POST /checkin/batch`."""

from __future__ import annotations

from typing import Any

from taskplatform.core.db import session_scope
from taskplatform.core.errors import PermanentError
from taskplatform.gym.checkins import ingest_checkins
from taskplatform.messaging.celery_app import app
from taskplatform.messaging.task_names import TaskName


@app.task(name=TaskName.CHECKINS_INGEST_BATCH.value)
def ingest_batch(aluno_ids: list[int], instants: list[str]) -> dict[str, Any]:
    """Store a batch of check-ins; idempotent on (student, instant), so a redelivery is harmless.

    The API fixes each instant before publishing (defaulting to the time the request was
    accepted), so every delivery of the message writes exactly the same rows.
    """
    if len(aluno_ids) != len(instants):
        raise PermanentError(f"malformed batch: {len(aluno_ids)} ids, {len(instants)} instants")
    with session_scope() as session:
        result = ingest_checkins(session=session, aluno_ids=aluno_ids, instants=instants)
    return result.as_dict()
