"""The ledger's two hottest writes as one PostgreSQL statement each: a data-modifying CTE writes the record and
appends its events in one round trip, where the portable versions (`records.create_task_record`,
`short_path.finish_short`) send two. The SQL is compiled once per process."""

from __future__ import annotations

from functools import cache

from sqlalchemy import JSON, TextClause, bindparam, text
from sqlalchemy.dialects.postgresql import JSONB

from taskplatform.core.db import UTCDateTime

#: None binds as SQL NULL (a JSON null would read back as a value).
_NULLABLE_JSON = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")

#: `settings` makes this transaction's commit return before the WAL reaches the disk (set_config(..., true) is
#: SET LOCAL inside the statement, one round trip less): README, "What the ledger guarantees".
CREATE = """
WITH settings AS (SELECT set_config('synchronous_commit', 'off', true)),
record AS (
    INSERT INTO task_records (id, name, queue, state, params, attempts, idempotency_key, idempotency_scope,
                              request_hash, created_at, updated_at, message, arguments, rerun_of)
    VALUES (:id, :name, :queue, 'QUEUED', :params, 0, :idempotency_key, :idempotency_scope, :request_hash, :now, :now,
            :message, :arguments, :rerun_of)
    ON CONFLICT DO NOTHING
    RETURNING id
)
INSERT INTO task_events (task_id, state, at) SELECT id, 'QUEUED', :now FROM record, settings RETURNING task_id
"""

#: CREATE for many tasks without an Idempotency-Key in one statement (`enqueue.py`'s group commit): `rows` is a
#: JSON array of {id, name, queue, params, message, arguments, rerun_of}.
CREATE_MANY = """
WITH settings AS (SELECT set_config('synchronous_commit', 'off', true)),
input AS (
    SELECT * FROM jsonb_to_recordset(CAST(:rows AS jsonb))
        AS t(id varchar, name varchar, queue varchar, params jsonb, message jsonb, arguments jsonb, rerun_of varchar)
),
record AS (
    INSERT INTO task_records (id, name, queue, state, params, attempts, created_at, updated_at, message, arguments,
                              rerun_of)
    SELECT id, name, queue, 'QUEUED', params, 0, :now, :now, message, arguments, rerun_of FROM input
    ON CONFLICT DO NOTHING
    RETURNING id
)
INSERT INTO task_events (task_id, state, at) SELECT id, 'QUEUED', :now FROM record, settings RETURNING task_id
"""

#: A short task's SUCCESS over its record, unless the record is held: cancelled before the task started, or
#: already SUCCESS (an earlier run of the same message).
_SUCCESS_UNLESS_HELD = """ON CONFLICT (id) DO UPDATE SET
    state = 'SUCCESS', attempts = task_records.attempts + 1, updated_at = excluded.updated_at,
    started_at = excluded.started_at, finished_at = excluded.finished_at, runtime_s = excluded.runtime_s,
    progress = 100, result = excluded.result, error_type = NULL, error_message = NULL, traceback = NULL,
    message = NULL
WHERE (task_records.state <> 'CANCELED' OR task_records.canceled_at >= excluded.started_at)
    AND task_records.state <> 'SUCCESS'
RETURNING"""

#: Shared with the portable version: the record's half of a short task's SUCCESS.
FINISH_RECORD = f"""
INSERT INTO task_records (id, name, queue, state, attempts, created_at, updated_at, started_at, finished_at,
                          runtime_s, progress, result)
VALUES (:id, :name, :queue, 'SUCCESS', 1, :now, :now, :started_at, :now, :runtime_s, 100, :result)
{_SUCCESS_UNLESS_HELD} state
"""

FINISH = f"""
WITH record AS ({FINISH_RECORD}), events AS (
    INSERT INTO task_events (task_id, state, at, detail)
    SELECT :id, 'STARTED', :started_at, :started_detail FROM record
    UNION ALL SELECT :id, 'SUCCESS', :now, NULL FROM record
)
SELECT state, true AS written FROM record
UNION ALL SELECT state, false FROM task_records WHERE id = :id AND NOT EXISTS (SELECT FROM record)
"""


@cache
def finish_statement() -> TextClause:
    """A short task's SUCCESS with its STARTED and SUCCESS events: (SUCCESS, true) when written, else the state that
    held (CANCELED, or SUCCESS from an earlier run), false. The fallback reads the statement's snapshot: the state
    before it."""
    return text(FINISH).bindparams(bindparam("result", type_=JSON().with_variant(JSONB(), "postgresql")),
                                    bindparam("started_detail", type_=_NULLABLE_JSON),
                                    bindparam("now", type_=UTCDateTime()), bindparam("started_at", type_=UTCDateTime()))

#: Many short tasks' SUCCESS in one statement (the worker's main process, `final_states.py`): `rows` is a JSON
#: array of {id, name, queue, started_at, runtime_s, result, started_detail}. The same rules as FINISH_RECORD, row
#: by row; a task listed twice (a message delivered again while the first run's row waited) is written once.
#: Returns the ids written; the others were held (CANCELED, or an earlier SUCCESS).
FINISH_MANY = f"""
WITH input AS (
    SELECT DISTINCT ON (id) * FROM jsonb_to_recordset(CAST(:rows AS jsonb))
        AS t(id varchar, name varchar, queue varchar, started_at timestamptz, runtime_s float8, result jsonb,
             started_detail jsonb)
    ORDER BY id
), record AS (
    INSERT INTO task_records (id, name, queue, state, attempts, created_at, updated_at, started_at, finished_at,
                              runtime_s, progress, result)
    SELECT id, name, queue, 'SUCCESS', 1, :now, :now, started_at, :now, runtime_s, 100, result FROM input
    {_SUCCESS_UNLESS_HELD} id
), events AS (
    INSERT INTO task_events (task_id, state, at, detail)
    SELECT input.id, 'STARTED', input.started_at, input.started_detail FROM input JOIN record USING (id)
    UNION ALL SELECT id, 'SUCCESS', :now, NULL FROM record
)
SELECT id FROM record
"""
