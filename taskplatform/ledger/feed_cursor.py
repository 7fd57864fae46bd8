"""Where the feed is in `task_events`: which ids it delivered, and which it must look at again.

Event ids are the table's ascending primary key, but ascending ids are not committed in ascending order:
- PostgreSQL takes a sequence value at INSERT, so a transaction holding id 10 can commit after one holding 11.
  A reader that only asks for `id > highest seen` would skip 10 forever. The cursor remembers every id it saw
  skipped (a "gap") and asks for those again on each tick until they appear or `grace_s` has passed (a rolled
  back transaction, or a record deleted after a refused publish, leaves a gap that never fills). The ledger's
  transactions are short (one upsert and one insert, committed at once), so seconds are plenty. This costs
  nothing while ids arrive in order, unlike re-reading a fixed window of recent rows on every tick, and it does
  not need PostgreSQL-only machinery (xmin, logical decoding, LISTEN): the same code runs on SQLite.
- SQLite gives a new row the highest id + 1, so deleting the newest row (a refused publish removes its QUEUED
  event) hands its id to the next row. The last `reread` ids are read again on each tick and an id already
  delivered counts as new when it now belongs to another task.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from taskplatform.ledger.transitions import Transition

#: A jump of more ids than this is not tracked id by id (a sequence moved on by a bulk of rolled-back inserts).
MAX_GAP_SPAN = 1000
MAX_GAPS = 10_000


@dataclass
class FeedCursor:
    high: int
    grace_s: float
    reread: int = 8
    #: id -> when to stop waiting for it (monotonic seconds)
    gaps: dict[int, float] = field(default_factory=dict)
    #: id -> task id, for the ids above `high - reread`
    recent: dict[int, str] = field(default_factory=dict)

    @classmethod
    def starting(cls, newest: list[tuple[int, str]], *, now: float, grace_s: float, reread: int = 8) -> FeedCursor:
        """A cursor at the newest id: the rows below it exist already (a stream reads them from the database), but
        the holes between them may be transactions about to commit, so they are gaps from the start."""
        cursor = cls(high=newest[-1][0] if newest else 0, grace_s=grace_s, reread=reread)
        present = dict(newest)
        if newest:
            for missing in range(newest[0][0] + 1, cursor.high):
                if missing not in present:
                    cursor._wait_for(missing, now)
        cursor.recent = {id_: task for id_, task in present.items() if id_ > cursor.high - reread}
        return cursor

    def after(self) -> int:
        """Read the ids above this one on the next tick."""
        return max(self.high - self.reread, 0)

    def pending(self, now: float) -> list[int]:
        """The gaps still worth asking for that the range read does not cover."""
        for expired in [id_ for id_, deadline in self.gaps.items() if deadline < now]:
            del self.gaps[expired]
        floor = self.after()
        return sorted(id_ for id_ in self.gaps if id_ <= floor)

    def accept(self, transitions: list[Transition], now: float) -> list[Transition]:
        """The transitions not delivered before, in id order; the cursor moves past them."""
        fresh: list[Transition] = []
        for transition in sorted(transitions, key=lambda t: t.id):
            id_ = transition.id
            if self.gaps.pop(id_, None) is not None:
                pass
            elif id_ > self.high:
                if id_ - self.high - 1 <= MAX_GAP_SPAN:
                    for missing in range(self.high + 1, id_):
                        self._wait_for(missing, now)
                self.high = id_
            elif self.recent.get(id_) == transition.task_id or id_ <= self.high - self.reread:
                continue  # delivered already (or below the window, where no reused id can appear)
            self.recent[id_] = transition.task_id
            fresh.append(transition)
        floor = self.high - self.reread
        self.recent = {id_: task for id_, task in self.recent.items() if id_ > floor}
        return fresh

    def _wait_for(self, id_: int, now: float) -> None:
        if len(self.gaps) < MAX_GAPS:
            self.gaps[id_] = now + self.grace_s
