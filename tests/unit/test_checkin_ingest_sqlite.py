"""Check-in ingestion on SQLite: counts, idempotency on (student, instant) and UTC storage."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from taskplatform.core.db import Base, make_engine
from taskplatform.gym.checkins import UNKNOWN_SAMPLE, IngestResult, ingest_checkins, upsert_alunos
from taskplatform.gym.models import Aluno, Checkin


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path}/c.db")
    Base.metadata.create_all(engine)
    with Session(engine) as session, session.begin():
        assert upsert_alunos(session=session, alunos=[(1, "Ana"), (2, "Bruno"), (3, None)]) == 3
    yield engine
    engine.dispose()


def ingest(engine: Engine, aluno_ids: list[int], instants: list[str]) -> IngestResult:
    with Session(engine) as session, session.begin():
        return ingest_checkins(session=session, aluno_ids=aluno_ids, instants=instants)


def stored(engine: Engine) -> list[tuple[int, datetime]]:
    with Session(engine) as session:
        return [(c.aluno_id, c.data_hora)
                for c in session.scalars(select(Checkin).order_by(Checkin.data_hora, Checkin.aluno_id))]


def test_counts_inserted_duplicates_and_unknown(engine: Engine) -> None:
    result = ingest(engine, [1, 2, 99, 1, 42, 99],
                    ["2026-11-20T10:00:00+00:00", "2026-11-20T10:00:00+00:00", "2026-11-20T10:00:00+00:00",
                     "2026-11-20T10:00:00+00:00", "2026-11-20T11:00:00+00:00", "2026-11-20T12:00:00+00:00"])
    assert result == IngestResult(inserted=2, duplicates=1, unknown=3, unknown_aluno_ids=[42, 99])
    assert result.as_dict() == {"inserted": 2, "duplicates": 1, "unknown": 3, "unknown_aluno_ids": [42, 99]}
    assert [aluno for aluno, _ in stored(engine)] == [1, 2]


def test_rerunning_the_same_batch_inserts_nothing(engine: Engine) -> None:
    ids, instants = [1, 2, 3], ["2026-11-20T10:00:00+00:00", "2026-11-20T10:05:00-03:00", "2026-11-21T00:00:00Z"]
    assert ingest(engine, ids, instants) == IngestResult(inserted=3, duplicates=0, unknown=0, unknown_aluno_ids=[])
    assert ingest(engine, ids, instants) == IngestResult(inserted=0, duplicates=3, unknown=0, unknown_aluno_ids=[])
    assert len(stored(engine)) == 3


def test_same_instant_at_two_offsets_is_one_row(engine: Engine) -> None:
    first = ingest(engine, [1], ["2026-11-20T10:00:00+00:00"])
    second = ingest(engine, [1], ["2026-11-20T07:00:00-03:00"])
    assert (first.inserted, second.inserted, second.duplicates) == (1, 0, 1)
    assert stored(engine) == [(1, datetime(2026, 11, 20, 10, tzinfo=UTC))]


def test_same_instant_at_two_offsets_in_one_batch_is_one_row(engine: Engine) -> None:
    result = ingest(engine, [2, 2], ["2026-11-20T10:00:00+00:00", "2026-11-20T12:00:00+02:00"])
    assert (result.inserted, result.duplicates) == (1, 1)


def test_ingested_rows_match_orm_written_rows(engine: Engine) -> None:
    with Session(engine) as session:
        session.add(Checkin(aluno_id=3, data_hora=datetime(2026, 11, 20, 10, 0, 0, 500, tzinfo=UTC)))
        session.commit()
    result = ingest(engine, [3], ["2026-11-20T07:00:00.000500-03:00"])
    assert (result.inserted, result.duplicates) == (0, 1)


def test_rows_read_back_are_aware_utc(engine: Engine) -> None:
    ingest(engine, [1, 2], ["2026-11-20T07:00:00-03:00", "2026-11-20T23:30:00+05:30"])
    rows = stored(engine)
    assert rows == [(1, datetime(2026, 11, 20, 10, 0, tzinfo=UTC)), (2, datetime(2026, 11, 20, 18, 0, tzinfo=UTC))]
    assert all(instant.tzinfo is UTC for _, instant in rows)


def test_length_mismatch_raises(engine: Engine) -> None:
    with pytest.raises(ValueError, match="2 student ids but 1 instants"):
        ingest(engine, [1, 2], ["2026-11-20T10:00:00+00:00"])
    assert stored(engine) == []


def test_empty_batch(engine: Engine) -> None:
    assert ingest(engine, [], []) == IngestResult(inserted=0, duplicates=0, unknown=0, unknown_aluno_ids=[])


def test_unknown_sample_is_capped_and_sorted_but_the_count_is_exact(engine: Engine) -> None:
    unknown_ids = list(range(1000 + UNKNOWN_SAMPLE + 20, 1000, -1))
    result = ingest(engine, unknown_ids + [1], ["2026-11-20T10:00:00+00:00"] * (len(unknown_ids) + 1))
    assert (result.inserted, result.duplicates, result.unknown) == (1, 0, len(unknown_ids))
    assert result.unknown_aluno_ids == list(range(1001, 1001 + UNKNOWN_SAMPLE))


def test_upsert_alunos_renames_without_duplicating(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        assert upsert_alunos(session=session, alunos=[(1, "Ana Maria"), (4, "Carla")]) == 2
        assert upsert_alunos(session=session, alunos=[]) == 0
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Aluno)) == 4
        names = {aluno.id: aluno.nome for aluno in session.scalars(select(Aluno))}
    assert names == {1: "Ana Maria", 2: "Bruno", 3: None, 4: "Carla"}


def test_instants_before_year_1000_are_stored_as_sqlite_reads_them(engine: Engine) -> None:
    """Catches "204-12-19 04:32:37" (glibc's %Y does not pad): SQLite cannot read it, so the churn
    training's `strftime('%s', data_hora)` was NULL and the whole retrain a TypeError (found by the
    contract run: `/checkin/batch` accepts any ISO 8601 instant)."""
    ingest(engine, [1], ["0204-12-19T04:32:37+00:00"])
    assert stored(engine) == [(1, datetime(204, 12, 19, 4, 32, 37, tzinfo=UTC))]
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT strftime('%s', data_hora) FROM checkins").scalar() is not None
