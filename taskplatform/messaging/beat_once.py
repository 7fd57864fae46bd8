"""Beat that sends each fire once, however many beat processes run (one per host, say).

`OnceScheduler` is Celery's `PersistentScheduler` (the schedule file, catch-up after a restart) with one step
added before a due entry is sent: the fire is claimed in `schedule_runs` under (entry, fire time)
(`taskplatform/messaging/schedule_runs.py`). The beat that inserts the row sends the task under the id written in
it; a beat that finds the row sends nothing, logs "skipped: already fired by <beat>" and is counted in the row's
`skipped`. The fire time is the same on every beat (`taskplatform/messaging/fire_times.py`): a crontab's boundary,
or an interval's epoch-aligned slot, at whose boundaries interval entries fire on every beat.

**Database unreachable at fire time.** The claim is tried `CLAIM_ATTEMPTS` times over about 3 s, then the task is
sent **unguarded** and an error logged. A fire missed is worse than a fire sent twice here: every scheduled task
is idempotent (a report is upserted by date, a model version is named by its data, the purge and the redelivery
sweep find nothing more to do the second time), while a nightly report that was never built stays missing until
someone asks for it; and the task, which needs the database too, waits in the queue and runs when it is back.
A claim that fails for another reason (the table missing: migrations not applied) is sent unguarded the same way,
as beat did before this scheduler. If the publish fails after a won claim, the row keeps `sent_at` NULL and that
fire is lost, as it is with Celery's own scheduler (an error is logged).
"""

from __future__ import annotations

import logging
import os
import socket
import time
import traceback
from datetime import datetime
from functools import cached_property
from typing import Any

from celery.beat import PersistentScheduler, ScheduleEntry
from celery.utils import uuid
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from taskplatform.core.db import make_engine
from taskplatform.core.errors import is_transient
from taskplatform.core.settings import get_settings
from taskplatform.messaging.fire_times import UnsupportedSchedule, aligned_is_due, fire_time, run_every
from taskplatform.messaging.schedule_runs import Claim, claim_fire, mark_sent

logger = logging.getLogger("taskplatform.beat")

#: Claim attempts on a database that is unreachable, `CLAIM_BACKOFF_S` apart (then the fire is sent unguarded).
CLAIM_ATTEMPTS = 3
CLAIM_BACKOFF_S = (1.0, 2.0)
#: Connect and statement timeout of beat's connections: beat must not hang on a database that does not answer.
DB_TIMEOUT_S = 5


def beat_identity() -> str:
    """How this beat names itself in `schedule_runs` and its log: `host:pid`."""
    return f"{socket.gethostname()}:{os.getpid()}"


class OnceScheduler(PersistentScheduler):  # type: ignore[misc]
    """A `PersistentScheduler` that claims each fire in the database before sending it (see the module)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.beat = beat_identity()
        super().__init__(*args, **kwargs)

    @cached_property
    def _sessions(self) -> sessionmaker[Session]:
        engine: Engine = make_engine(get_settings().effective_database_url, timeout_s=DB_TIMEOUT_S)
        return sessionmaker(bind=engine, expire_on_commit=False)

    def is_due(self, entry: ScheduleEntry) -> Any:
        """Interval entries fire at epoch-aligned slot boundaries, once per slot; crontabs as Celery fires them."""
        period = run_every(entry.schedule)
        if period is None:
            return entry.is_due()
        return aligned_is_due(period, entry.last_run_at, self.app.now())

    def apply_entry(self, entry: ScheduleEntry, producer: Any = None) -> None:
        """Claim the fire, then send it only if this beat won (Celery's method, with the claim before the send)."""
        try:
            fired_for: datetime | None = fire_time(entry.schedule, entry.schedule.now())
        except UnsupportedSchedule:
            logger.exception("beat %s: no fire time for %s; sending it unguarded", self.beat, entry.name)
            fired_for = None
        task_id, when = uuid(), fired_for.isoformat() if fired_for else "-"
        claim = self._claim(entry, fired_for, task_id) if fired_for is not None else None
        if claim is not None and not claim.won:
            logger.warning("Scheduler: %s (%s) for %s skipped: already fired by %s at %s (task %s); this beat: %s",
                           entry.name, entry.task, when, claim.fired_by, claim.claimed_at.isoformat(), claim.task_id,
                           self.beat)
            return
        logger.info("Scheduler: Sending due task %s (%s) for %s", entry.name, entry.task, when)
        try:
            result = self.apply_async(self._with_task_id(entry, task_id), producer=producer, advance=False)
        except Exception as exc:
            # Celery's own handling of a refused publish: logged, and beat goes on with the other entries.
            logger.error("Message Error: %s\n%s", exc, traceback.format_stack(), exc_info=True)
            return
        logger.debug("%s sent. id->%s", entry.task, getattr(result, "id", task_id))
        if claim is not None and fired_for is not None:
            self._mark_sent(entry, fired_for)

    @staticmethod
    def _with_task_id(entry: ScheduleEntry, task_id: str) -> ScheduleEntry:
        # A copy, as Celery's own `next(entry)` makes them: the entry's options dict is shared with the entry that
        # replaced it in the schedule, and must not carry this fire's id into the next one.
        return entry.__class__(**dict(entry, options={**entry.options, "task_id": task_id}))

    def _claim(self, entry: ScheduleEntry, fired_for: datetime, task_id: str) -> Claim | None:
        """The claim's outcome, or None when the database could not tell (the fire is then sent unguarded)."""
        for attempt in range(CLAIM_ATTEMPTS):
            try:
                with self._sessions.begin() as session:
                    return claim_fire(session=session, schedule=entry.name, fire_time=fired_for, task=entry.task,
                                      task_id=task_id, beat=self.beat)
            except SQLAlchemyError as exc:
                if is_transient(exc) and attempt + 1 < CLAIM_ATTEMPTS:
                    logger.warning("beat %s: claiming %s for %s failed (%s); trying again", self.beat, entry.name,
                                   fired_for.isoformat(), exc.__class__.__name__)
                    time.sleep(CLAIM_BACKOFF_S[attempt])
                    continue
                logger.error("beat %s: could not claim %s for %s in schedule_runs (%s: %s); sending it UNGUARDED "
                             "(another beat may send it too; every scheduled task is idempotent)", self.beat,
                             entry.name, fired_for.isoformat(), exc.__class__.__name__, str(exc).splitlines()[0])
                return None
        return None

    def _mark_sent(self, entry: ScheduleEntry, fired_for: datetime) -> None:
        try:
            with self._sessions.begin() as session:
                mark_sent(session=session, schedule=entry.name, fire_time=fired_for)
        except SQLAlchemyError as exc:
            # The task was sent; only the row's sent_at stays NULL.
            logger.warning("beat %s: %s for %s was sent but not marked sent in schedule_runs (%s)", self.beat,
                           entry.name, fired_for.isoformat(), exc.__class__.__name__)
