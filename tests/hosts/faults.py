"""One fault's run: a check-in stream through the API host, the fault injected and lifted in the middle of it,
then the ledger's verdict and the figures of the report line."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import text

from taskplatform.dev.processes import wait_until
from tests.hosts.hosts import Hosts
from tests.hosts.load import CheckinStream, register_students
from tests.hosts.verdict import Figures, figures, wait_all_final

#: Seconds of stream before the fault (the "before" figure) and after it is lifted (the "after" figure).
WARMUP_S = 5.0
BEFORE_S = 20.0
AFTER_S = 30.0


@dataclass
class Fault:
    name: str
    #: Called when the stream is steady; may wait for the moment it needs (work in progress on a host). Returns
    #: the instant the fault struck, taken just before the action (a kill or a cut takes a few milliseconds).
    inject: Callable[[Hosts, CheckinStream], datetime]
    lift: Callable[[Hosts], None]
    #: Seconds between injecting and lifting.
    hold_s: float
    #: Checked right after `inject`: that the fault hit work in progress (raises AssertionError otherwise).
    hit_check: Callable[[Hosts, CheckinStream, datetime], None] | None = None


def work_in_progress(hosts: Hosts, stream: CheckinStream, *, on: str | None = None) -> bool:
    """A batch of the stream is running now (STARTED, not final), on host `on`'s worker if given."""
    recent = stream.task_ids()[-40:]
    worker = f"%{hosts.worker_node(on)}%" if on else "%"
    with hosts.db.connect() as connection:
        return bool(connection.execute(text(
            "SELECT count(*) FROM task_records r JOIN task_events e ON e.task_id = r.id AND e.state = 'STARTED' "
            "WHERE r.id = ANY(:ids) AND r.state = 'STARTED' AND e.detail::text LIKE :worker"),
            {"ids": recent, "worker": worker}).scalar_one())


def when_work_in_progress(hosts: Hosts, stream: CheckinStream, *, on: str | None = None) -> None:
    """Return as soon as a batch is running (on `on`), so the fault that follows hits work in progress."""
    wait_until(lambda: work_in_progress(hosts, stream, on=on), timeout=30, interval=0.02,
               what=f"a batch in progress{f' on {on}' if on else ''}")


def run_fault(hosts: Hosts, fault: Fault, *, first_student: int, students: int = 1_000, batch_size: int = 4_000,
              rate: float = 0.5, settle_timeout: float = 300) -> Figures:
    """Batches of 4,000 check-ins every 2 s (2,000 check-ins/s offered): a batch of 500 runs in 16 ms here, too
    short for a fault injected when one is seen running to reliably strike before it ends; 4,000 take ~100 ms."""
    ids = register_students(hosts.api, first_student, students)
    stream = CheckinStream(str(hosts.api.base_url), ids, fault.name, batch_size=batch_size, rate=rate).start()
    try:
        time.sleep(WARMUP_S)  # not synchronisation: the length of the stream's warm-up, measured from the clock
        started = datetime.now(UTC)
        time.sleep(BEFORE_S)  # likewise, the "before" window
        injected = fault.inject(hosts, stream)
        try:
            if fault.hit_check is not None:
                fault.hit_check(hosts, stream, injected)
            time.sleep(fault.hold_s)  # the fault's length, as the issue states it
        finally:
            fault.lift(hosts)
        restored = datetime.now(UTC)
        time.sleep(AFTER_S)  # the "after" window
    finally:
        stream.stop()
    ended = datetime.now(UTC)
    wait_all_final(hosts.db, stream.task_ids(), timeout=settle_timeout)
    result = figures(fault.name, hosts.db, stream, started=started, injected=injected, restored=restored, ended=ended)
    # A process that died (a worker that could not rejoin the cluster) leaves the others to do its work: the
    # verdict would pass and the next fault would run with one host less.
    result.exited = [f"{name} exited with {code}" for name, code in hosts.supervisor.exited()]
    return result
