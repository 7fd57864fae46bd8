"""Bisecting a batch: bad items are found and refused, the rest applied in order, transient faults hold."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from botocore.exceptions import ClientError
from sqlalchemy.exc import DataError, IntegrityError, InterfaceError, OperationalError, StatementError

from taskplatform.core.errors import PermanentError, is_transient
from taskplatform.messaging.batches import apply_bisecting


class Store:
    """Applies a part all or nothing, like one database transaction; refuses parts holding a poison item."""

    def __init__(self, poison: set[int], down_after: int | None = None) -> None:
        self.poison = poison
        self.down_after = down_after
        self.committed: list[int] = []
        self.calls = 0

    def apply(self, part: Sequence[int]) -> None:
        self.calls += 1
        if self.down_after is not None and self.calls > self.down_after:
            raise OperationalError("INSERT", {}, ConnectionRefusedError("connection refused"))
        if self.poison & set(part):
            raise DataError("INSERT", {}, ValueError("integer out of range"))
        self.committed.extend(part)


@pytest.mark.parametrize("poison", [set(), {0}, {25}, {50}, {3, 4}, {0, 17, 33, 50}, set(range(51))])
def test_every_poison_item_is_refused_and_every_other_one_applied_in_order(poison: set[int]) -> None:
    """Catches one bad message holding back (or taking down) the good ones of its batch."""
    items = list(range(51))
    store = Store(poison)
    outcome = apply_bisecting(items, store.apply)
    assert sorted(item for item, _ in outcome.refused) == sorted(poison)
    assert all(isinstance(exc, DataError) for _, exc in outcome.refused)
    assert store.committed == [i for i in items if i not in poison]  # arrival order kept: newest wins
    assert outcome.applied == store.committed and outcome.held == []


def test_one_poison_item_costs_a_logarithmic_number_of_attempts() -> None:
    """Catches a split that degenerates into applying items one by one."""
    outcome = apply_bisecting(list(range(1000)), Store({500}).apply)
    assert outcome.attempts <= 2 * 10 + 1


def test_a_transient_fault_holds_the_rest_and_keeps_what_was_committed() -> None:
    """Catches messages dead-lettered (or dropped) because the database went down during a split."""
    items = list(range(8))
    store = Store({6}, down_after=3)  # whole batch refused, left half applied, then the database is down
    outcome = apply_bisecting(items, store.apply)
    assert outcome.applied == [0, 1, 2, 3] == store.committed
    assert outcome.held == [4, 5, 6, 7] and outcome.refused == []
    assert isinstance(outcome.error, OperationalError)


def test_nothing_to_apply() -> None:
    outcome = apply_bisecting([], Store(set()).apply)
    assert outcome.attempts == 0 and outcome.applied == outcome.held == outcome.refused == []


class DriverError(Exception):
    """A DB-API exception carrying its SQLSTATE, as psycopg's do."""

    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def _client_error(status: int) -> ClientError:
    return ClientError({"Error": {"Code": str(status)}, "ResponseMetadata": {"HTTPStatusCode": status}}, "PutObject")


@pytest.mark.parametrize(("exc", "transient"), [
    (OperationalError("SELECT 1", {}, ConnectionRefusedError()), True),
    (InterfaceError("SELECT 1", {}, Exception("connection already closed")), True),
    (ConnectionRefusedError(), True),
    (_client_error(503), True),
    (_client_error(429), True),
    (DataError("INSERT", {}, ValueError("integer out of range")), False),
    (IntegrityError("INSERT", {}, ValueError("duplicate key")), False),
    (StatementError("can't adapt", "INSERT", {}, TypeError("unhashable")), False),
    (OverflowError("Python int too large to convert to SQLite INTEGER"), False),
    (_client_error(400), False),
    (_client_error(403), False),
    (PermanentError("bad input"), False),
    (OperationalError("INSERT", {}, DriverError("54000")), False),  # program limit exceeded
    (OperationalError("INSERT", {}, DriverError("57P01")), True),  # admin shutdown
    (OperationalError("INSERT", {}, DriverError("40P01")), True),  # deadlock detected
])
def test_transient_faults_are_told_from_permanent_ones(exc: BaseException, transient: bool) -> None:
    """Catches a refused value being retried forever, or a database outage dead-lettering good messages."""
    assert is_transient(exc) is transient
