"""Check-in and student writes: set-based, idempotent on each natural key."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from taskplatform.core.db import dialect_insert, utcnow
from taskplatform.gym.models import Aluno

#: How many unknown student ids a result lists (the count is always exact).
UNKNOWN_SAMPLE = 100

# Unknown students are the batch rows the join drops, so no second anti-join is needed;
# inserting in key order keeps the B-tree inserts local.
_PG_INGEST = text("""
WITH batch AS (
    SELECT b.aluno_id, b.data_hora
    FROM unnest(CAST(:ids AS bigint[]), CAST(:instants AS timestamptz[])) AS b(aluno_id, data_hora)
), known AS MATERIALIZED (
    SELECT batch.aluno_id, batch.data_hora FROM batch JOIN alunos ON alunos.id = batch.aluno_id
), inserted AS (
    INSERT INTO checkins (aluno_id, data_hora)
    SELECT aluno_id, data_hora FROM known ORDER BY aluno_id, data_hora
    ON CONFLICT DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM inserted), cardinality(CAST(:ids AS bigint[])) - (SELECT count(*) FROM known)
""")
_PG_UNKNOWN = text("""
SELECT DISTINCT b.id FROM unnest(CAST(:ids AS bigint[])) AS b(id)
WHERE NOT EXISTS (SELECT 1 FROM alunos WHERE alunos.id = b.id) ORDER BY b.id LIMIT :n
""")
# SQLite: rows arrive as one JSON array of [aluno_id, "YYYY-MM-DD HH:MM:SS.ffffff"] in UTC,
# the text form SQLAlchemy stores, so the natural key compares equal to ORM-written rows.
_SQLITE_INGEST = text("""
INSERT INTO checkins (aluno_id, data_hora)
SELECT j.value ->> 0, j.value ->> 1 FROM json_each(:rows) AS j
WHERE EXISTS (SELECT 1 FROM alunos WHERE alunos.id = j.value ->> 0)
ON CONFLICT DO NOTHING
""")
_SQLITE_UNKNOWN = text("""
SELECT DISTINCT j.value ->> 0 AS id FROM json_each(:rows) AS j
WHERE NOT EXISTS (SELECT 1 FROM alunos WHERE alunos.id = j.value ->> 0) ORDER BY id LIMIT :n
""")
_SQLITE_UNKNOWN_COUNT = text("""
SELECT count(*) FROM json_each(:rows) AS j WHERE NOT EXISTS (SELECT 1 FROM alunos WHERE alunos.id = j.value ->> 0)
""")


@dataclass(frozen=True)
class IngestResult:
    """Outcome of one batch: rows stored, rows already there, rows naming unknown students."""

    inserted: int
    duplicates: int
    unknown: int
    unknown_aluno_ids: list[int]

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _sqlite_text(instant: str) -> str:
    # isoformat pads the year to four digits (strftime's %Y does not, below 1000), as SQLAlchemy's own DateTime does.
    return datetime.fromisoformat(instant).astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def ingest_checkins(*, session: Session, aluno_ids: Sequence[int], instants: Sequence[str]) -> IngestResult:
    """Insert a batch of check-ins in one statement; re-running it inserts nothing.

    `instants` are ISO 8601 strings with an offset, one per id.
    """
    if len(aluno_ids) != len(instants):
        raise ValueError(f"{len(aluno_ids)} student ids but {len(instants)} instants")
    if session.get_bind().dialect.name == "postgresql":
        inserted, unknown = session.execute(_PG_INGEST, {"ids": list(aluno_ids), "instants": list(instants)}).one()
        sample = [] if not unknown else list(session.scalars(_PG_UNKNOWN, {"ids": list(aluno_ids),
                                                                          "n": UNKNOWN_SAMPLE}))
    else:
        rows = json.dumps([[i, _sqlite_text(t)] for i, t in zip(aluno_ids, instants, strict=True)])
        # rowcount is exact on SQLite (psycopg reports -1 for an INSERT: the PostgreSQL path counts with RETURNING)
        inserted = session.connection().execute(_SQLITE_INGEST, {"rows": rows}).rowcount
        unknown = session.scalar(_SQLITE_UNKNOWN_COUNT, {"rows": rows})
        sample = [] if not unknown else list(session.scalars(_SQLITE_UNKNOWN, {"rows": rows,
                                                                              "n": UNKNOWN_SAMPLE}))
    unknown = int(unknown or 0)
    inserted = int(inserted)
    return IngestResult(inserted=inserted, duplicates=len(aluno_ids) - inserted - unknown, unknown=unknown,
                        unknown_aluno_ids=[int(i) for i in sample])


def upsert_alunos(*, session: Session, alunos: Sequence[tuple[int, str | None]]) -> int:
    """Create or rename students in one statement; returns how many were written."""
    if not alunos:
        return 0
    now = utcnow()
    table = Aluno.__table__
    stmt = dialect_insert(session, table)
    stmt = stmt.on_conflict_do_update(index_elements=[table.c.id],
                                      set_={"nome": stmt.excluded.nome, "updated_at": now})
    # Rows as parameters of one cached statement (batched by SQLAlchemy), not a new 10,000-row statement.
    session.execute(stmt, [{"id": i, "nome": nome, "created_at": now, "updated_at": now} for i, nome in alunos])
    return len(alunos)
