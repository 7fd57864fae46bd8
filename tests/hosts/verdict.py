"""What a fault did, read from the harness's PostgreSQL directly: check-ins lost or stored twice, tasks without a
final state or finished twice, and the check-ins stored per second before, during and after the fault."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine, text

from taskplatform.dev.processes import wait_until
from tests.hosts.load import CheckinStream

FINAL = ("SUCCESS", "FAILURE", "REVOKED", "CANCELED")


def unfinished(db: Engine, task_ids: list[str]) -> int:
    with db.connect() as connection:
        done = connection.execute(text("SELECT count(*) FROM task_records WHERE id = ANY(:ids) AND state = ANY(:f)"),
                                  {"ids": task_ids, "f": list(FINAL)}).scalar_one()
    return len(task_ids) - int(done)


def wait_all_final(db: Engine, task_ids: list[str], *, timeout: float) -> None:
    wait_until(lambda: unfinished(db, task_ids) == 0, timeout=timeout, interval=1,
               what=f"{len(task_ids)} tasks to reach a final state in the ledger")


@dataclass
class Verdict:
    sent: int
    stored: int
    distinct: int
    not_success: int
    #: Final events beyond a task's first: a late result written over a finished task.
    extra_finals: int
    #: Check-ins the tasks' results say they inserted: equals `stored` when no result was overwritten.
    results_inserted: int

    @property
    def lost(self) -> int:
        return max(0, self.sent - self.distinct) + self.not_success

    @property
    def duplicated(self) -> int:
        return (self.stored - self.distinct) + max(0, self.distinct - self.sent) + self.extra_finals

    def problems(self) -> list[str]:
        found = []
        if self.lost:
            found.append(f"lost {self.lost}: sent {self.sent}, stored {self.distinct} distinct, "
                         f"{self.not_success} tasks not SUCCESS")
        if self.duplicated:
            found.append(f"duplicated {self.duplicated}: {self.stored} rows for {self.distinct} keys, "
                         f"{self.extra_finals} extra final events")
        if self.results_inserted != self.distinct:
            found.append(f"the tasks' results count {self.results_inserted} inserted check-ins, the table holds "
                         f"{self.distinct}: a result was overwritten")
        return found


def judge(db: Engine, stream: CheckinStream) -> Verdict:
    ids = stream.task_ids()
    lo, hi = min(stream.students), max(stream.students)
    with db.connect() as connection:
        stored, distinct = connection.execute(text(
            "SELECT count(*), count(DISTINCT (aluno_id, data_hora)) FROM checkins "
            "WHERE aluno_id BETWEEN :lo AND :hi"), {"lo": lo, "hi": hi}).one()
        not_success = connection.execute(text(
            "SELECT :n - count(*) FROM task_records WHERE id = ANY(:ids) AND state = 'SUCCESS'"),
            {"ids": ids, "n": len(ids)}).scalar_one()
        extra_finals = connection.execute(text(
            "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM task_events "
            "WHERE task_id = ANY(:ids) AND state = ANY(:f) GROUP BY task_id) AS finals"),
            {"ids": ids, "f": list(FINAL)}).scalar_one()
        inserted = connection.execute(text(
            "SELECT coalesce(sum((result->>'inserted')::int), 0) FROM task_records WHERE id = ANY(:ids)"),
            {"ids": ids}).scalar_one()
    return Verdict(sent=stream.sent, stored=int(stored), distinct=int(distinct), not_success=int(not_success),
                   extra_finals=int(extra_finals), results_inserted=int(inserted))


def stored_per_second(db: Engine, stream: CheckinStream, start: datetime, end: datetime) -> float:
    """Check-ins of the stream's tasks that finished in [start, end), per second (each task's own insert count,
    at its finish)."""
    with db.connect() as connection:
        inserted = connection.execute(text(
            "SELECT coalesce(sum((result->>'inserted')::int), 0) FROM task_records "
            "WHERE id = ANY(:ids) AND finished_at >= :start AND finished_at < :end"),
            {"ids": stream.task_ids(), "start": start, "end": end}).scalar_one()
    return int(inserted) / max((end - start).total_seconds(), 1e-9)


def recovered_at(db: Engine, stream: CheckinStream, injected: datetime) -> datetime:
    """When the last batch accepted before the fault was finished: the work the fault hit, done."""
    hit = [a.task_id for a in stream.accepted if a.at <= injected]
    with db.connect() as connection:
        last = connection.execute(text("SELECT max(finished_at) FROM task_records WHERE id = ANY(:ids)"),
                                  {"ids": hit}).scalar_one()
    return max(last, injected) if last is not None else injected


def in_flight_at(db: Engine, stream: CheckinStream, injected: datetime) -> int:
    """Batches accepted before the fault that were not finished when it struck: the work it hit."""
    hit = [a.task_id for a in stream.accepted if a.at <= injected]
    with db.connect() as connection:
        return int(connection.execute(text(
            "SELECT count(*) FROM task_records WHERE id = ANY(:ids) AND (finished_at IS NULL OR finished_at > :at)"),
            {"ids": hit, "at": injected}).scalar_one())


def retried(db: Engine, task_ids: list[str]) -> int:
    """Tasks that ran more than once: a second STARTED counted, or an event saying it was a retry (the final
    SUCCESS carries its retries: the RETRY and STARTED writes of attempts that met an outage are lost with it)."""
    with db.connect() as connection:
        return int(connection.execute(text(
            "SELECT count(*) FROM task_records r WHERE r.id = ANY(:ids) AND (r.attempts > 1 OR EXISTS ("
            "SELECT FROM task_events e WHERE e.task_id = r.id AND (e.detail->>'retries')::int > 0))"),
            {"ids": task_ids}).scalar_one())


@dataclass
class Figures:
    name: str
    verdict: Verdict
    in_flight: int
    recover_s: float
    task_ids: list[str]
    before: float
    during: float
    after: float
    retried: int
    exited: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (f"fault {self.name}: lost={self.verdict.lost} duplicated={self.verdict.duplicated} "
                f"recover_s={self.recover_s:.1f} before={self.before:.0f}/s during={self.during:.0f}/s "
                f"after={self.after:.0f}/s in_flight={self.in_flight} retried={self.retried}")

    def problems(self) -> list[str]:
        hit = [] if self.in_flight else ["the fault hit no work in progress (no batch was unfinished when it struck)"]
        return hit + self.exited + self.verdict.problems()


def figures(name: str, db: Engine, stream: CheckinStream, *, started: datetime, injected: datetime,
            restored: datetime, ended: datetime) -> Figures:
    """`started`: the stream's warm-up is over; `injected`/`restored`: the fault's span; `ended`: the stream
    stopped. "after" runs from the restore until the stream stopped (catching up included)."""
    verdict = judge(db, stream)
    recover = (recovered_at(db, stream, injected) - injected).total_seconds()
    return Figures(name, verdict, in_flight_at(db, stream, injected), recover, stream.task_ids(),
                   before=stored_per_second(db, stream, started, injected),
                   during=stored_per_second(db, stream, injected, max(restored, injected + timedelta(seconds=1))),
                   after=stored_per_second(db, stream, restored, ended), retried=retried(db, stream.task_ids()))
