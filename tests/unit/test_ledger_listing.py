"""Task ledger listing on SQLite: newest first, limit and offset, filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.orm import Session

from taskplatform.ledger import records as ledger
from taskplatform.ledger.listing import TaskFilter, TaskListing, list_task_records
from taskplatform.ledger.models import TaskRecord
from taskplatform.ledger.records import create_task_record

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def listed(session: Session, monkeypatch: pytest.MonkeyPatch) -> Session:
    """Five records created one minute apart (t0 oldest, t4 newest)."""
    rows = [("t0", "housing.train", "training"), ("t1", "housing.predict", "predictions"),
            ("t2", "housing.train", "training"), ("t3", "checkins.ingest_batch", "checkins"),
            ("t4", "housing.train", "training")]
    for minute, (task_id, name, queue) in enumerate(rows):
        monkeypatch.setattr(ledger, "utcnow", lambda minute=minute: T0 + timedelta(minutes=minute))
        create_task_record(session=session, task_id=task_id, name=name, queue=queue)
    session.execute(TaskRecord.__table__.update().where(TaskRecord.id.in_(["t1", "t4"])).values(state="SUCCESS"))
    session.commit()
    return session


def ids(page: TaskListing) -> tuple[int, list[str]]:
    return page.total, [r.id for r in page.items]


def test_list_all_newest_first(listed: Session) -> None:
    assert ids(list_task_records(session=listed, filters=TaskFilter(), limit=50, offset=0)) == (
        5, ["t4", "t3", "t2", "t1", "t0"])


def test_list_limit_and_offset_keep_the_total(listed: Session) -> None:
    assert ids(list_task_records(session=listed, filters=TaskFilter(), limit=2, offset=1)) == (5, ["t3", "t2"])
    assert ids(list_task_records(session=listed, filters=TaskFilter(), limit=2, offset=10)) == (5, [])


@pytest.mark.parametrize(("filters", "expected"), [
    (TaskFilter(state="SUCCESS"), (2, ["t4", "t1"])),
    (TaskFilter(name="housing.train"), (3, ["t4", "t2", "t0"])),
    (TaskFilter(queue="checkins"), (1, ["t3"])),
    (TaskFilter(since=T0 + timedelta(minutes=2)), (3, ["t4", "t3", "t2"])),
    # The same instant written at another offset selects the same records.
    (TaskFilter(since=datetime(2026, 3, 1, 9, 2, tzinfo=timezone(timedelta(hours=-3)))), (3, ["t4", "t3", "t2"])),
    (TaskFilter(state="QUEUED", name="housing.train", since=T0 + timedelta(seconds=30)), (1, ["t2"])),
    (TaskFilter(state="REVOKED"), (0, [])),
])
def test_list_filters(listed: Session, filters: TaskFilter, expected: tuple[int, list[str]]) -> None:
    assert ids(list_task_records(session=listed, filters=filters, limit=50, offset=0)) == expected
