"""`TrackedTask`: the base class that writes every task's transitions to the ledger."""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime
from typing import Any

from billiard.einfo import ExceptionInfo
from celery import Task
from celery.utils.time import get_exponential_backoff_interval

from taskplatform.core.db import session_scope, utcnow
from taskplatform.core.errors import TRANSIENT_ERRORS
from taskplatform.core.settings import get_settings
from taskplatform.core.single_statement import run_on_driver, run_single_statement, single_statement_capable
from taskplatform.dead_letters.store import NewDeadLetter, record_dead_letters
from taskplatform.ledger import driver_path, final_states
from taskplatform.ledger.progress_points import ProgressPoints
from taskplatform.ledger.records import TaskState, record_transition
from taskplatform.ledger.short_path import finish_short, state_of
from taskplatform.messaging.queues import queue_for

logger = logging.getLogger("taskplatform.tasks")


class TrackedTask(ProgressPoints, Task):  # type: ignore[misc]
    """Celery task base class, installed app-wide with `Celery(task_cls=...)`.

    Its hooks record STARTED, RETRY, PROGRESS, SUCCESS and FAILURE in `task_records`
    and `task_events`. Faults of a server the task needs are retried with exponential
    backoff and full jitter; any other exception fails the task at once.

    A ledger write that fails is logged and never fails the task: the task's own effect
    is what must not be lost, and a broken database makes that effect retry anyway. The one exception is the
    final SUCCESS, written before the task returns (`__call__`): a database outage then retries the task (its
    effect is idempotent), since an acknowledged message whose SUCCESS was lost would leave its record unfinished.

    Cancels (taskplatform/ledger/cancellation.py): the STARTED write finds a cancelled record untouched, and the
    body does not run; a PROGRESS write (`report_progress`, a progress point) that finds CANCELING stops the task.
    Both raise `TaskCanceled`, an `Ignore`: no failure or retry is recorded and the message is acknowledged.
    """

    autoretry_for = TRANSIENT_ERRORS
    retry_backoff = 2
    retry_backoff_max = 300
    retry_jitter = True
    acks_late = True
    reject_on_worker_lost = True

    #: Set False on internal tasks that must not appear in the ledger.
    tracked = True
    #: Write STARTED when the task starts. False for tasks that finish within milliseconds and have no progress
    #: points: they take the ledger's short path (taskplatform/ledger/short_path.py), one read before the body and
    #: one write after it, instead of two writes.
    ledger_started = True
    #: Holds a short task's acknowledgement until its row, written by the main process, is committed.
    Request = "taskplatform.ledger.final_states_step:FinalStateRequest"
    #: Has a short task's state read by the main process, with other tasks', before it goes to the pool.
    Strategy = "taskplatform.ledger.final_states_step:strategy"

    @classmethod
    def on_bound(cls, app: Any) -> None:
        """TASK_MAX_RETRIES, read when the task is bound to its app (as the worker starts), not at import; a task
        that sets its own `max_retries` (in `@app.task(...)` or a subclass) keeps it."""
        own = cls.__mro__[:cls.__mro__.index(TrackedTask)]
        if not any("max_retries" in vars(klass) for klass in own):
            cls.max_retries = get_settings().task_max_retries
        super().on_bound(app)

    def _record(self, task_id: str, state: TaskState, detail: dict[str, Any] | None = None,
                **fields: Any) -> str | None:
        """The record's state after the write; None if not tracked or the write failed."""
        if not self.tracked:
            return None
        try:
            with session_scope() as session:
                return record_transition(session=session, task_id=task_id, name=self.name,
                                         queue=self._queue(), state=state, detail=detail, **fields)
        except Exception:
            logger.exception("ledger write failed: task=%s id=%s state=%s", self.name, task_id, state)
            return None

    def _queue(self) -> str | None:
        info = getattr(self.request, "delivery_info", None) or {}
        return info.get("routing_key") or queue_for(self.name)

    def _started_detail(self) -> dict[str, Any]:
        return {"retries": self.request.retries, "hostname": self.request.hostname}

    def _short(self) -> bool:
        return self.tracked and not self.ledger_started

    def before_start(self, task_id: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.request.tp_started = time.monotonic()
        self.request.tp_started_at = utcnow()
        logger.info("task started: %s id=%s retries=%s", self.name, task_id, self.request.retries)
        if self._short():
            # tp_checked: the worker's main process read the state, with other tasks' (final_states.py)
            state = None if getattr(self.request, "tp_checked", False) else self._read_state(task_id)
        else:
            state = self._record(task_id, TaskState.STARTED, started_at=self.request.tp_started_at, finished_at=None,
                                 detail=self._started_detail())
        self._stop_canceled(task_id, state, "canceled before it started")

    def _read_state(self, task_id: str) -> str | None:
        try:
            if single_statement_capable():
                return run_on_driver(lambda connection: driver_path.state_of(connection, task_id))
            return run_single_statement(lambda session: state_of(session=session, task_id=task_id))
        except Exception:  # the task runs; its final write still leaves a cancelled record alone
            logger.exception("ledger read failed: task=%s id=%s", self.name, task_id)
            return None

    def _late_start(self, task_id: str) -> None:
        """A short task that retries or fails: its STARTED, written now so its attempts count as on the long path."""
        if self._short():
            self._record(task_id, TaskState.STARTED, started_at=getattr(self.request, "tp_started_at", None),
                         finished_at=None, detail=self._started_detail())

    def _runtime(self) -> float | None:
        started = getattr(self.request, "tp_started", None)
        return None if started is None else round(time.monotonic() - started, 6)

    def on_retry(self, exc: Exception, task_id: str, args: tuple[Any, ...], kwargs: dict[str, Any],
                 einfo: ExceptionInfo) -> None:
        # Celery's Retry carries the delay it chose (backoff with jitter): recorded so a client sees when.
        raised = getattr(einfo.exception, "exc", None) if einfo else None  # billiard wraps the Retry
        when = getattr(raised, "when", None)
        countdown = when if isinstance(when, int | float) else None
        logger.warning("task retry: %s id=%s in %ss error=%s: %s", self.name, task_id, countdown,
                       type(exc).__name__, exc)
        self._late_start(task_id)
        self._record(task_id, TaskState.RETRY, error_type=type(exc).__name__, error_message=str(exc),
                     detail={"retries": self.request.retries, "error": f"{type(exc).__name__}: {exc}",
                             "countdown_s": countdown})

    def on_success(self, retval: Any, task_id: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        runtime = self._runtime()
        logger.info("task succeeded: %s id=%s runtime=%.3fs", self.name, task_id, runtime or 0.0)
        if getattr(self.request, "tp_success_written", False):
            return  # written by __call__, before the task returned
        self._record(task_id, TaskState.SUCCESS, result=retval, finished_at=utcnow(), runtime_s=runtime,
                     progress=100, error_type=None, error_message=None, traceback=None)

    def on_failure(self, exc: Exception, task_id: str, args: tuple[Any, ...], kwargs: dict[str, Any],
                   einfo: ExceptionInfo) -> None:
        runtime = self._runtime()
        logger.error("task failed: %s id=%s runtime=%.3fs error=%s: %s", self.name, task_id, runtime or 0.0,
                     type(exc).__name__, exc)
        self._late_start(task_id)
        self._record(task_id, TaskState.FAILURE, error_type=type(exc).__name__, error_message=str(exc),
                     traceback=str(einfo.traceback) if einfo else None, finished_at=utcnow(), runtime_s=runtime)
        if isinstance(exc, TRANSIENT_ERRORS):
            self._dead_letter(exc, args, kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """The body; then, for a task run by a worker, its SUCCESS. Written here rather than in `on_success`, whose
        errors Celery only logs (the message would be acknowledged, the record left STARTED or QUEUED for good): a
        write that meets a database outage retries the task with backoff, and the effect is idempotent. So the
        message is never acknowledged before the task's final state is committed."""
        result = super().__call__(*args, **kwargs)
        started_at = getattr(self.request, "tp_started_at", None)
        task_id = self.request.id
        if not self.tracked or started_at is None or not task_id:
            return result
        try:
            if self._short():
                self._finish_short(task_id, result, started_at)
            else:
                with session_scope() as session:
                    record_transition(session=session, task_id=task_id, name=self.name, queue=self._queue(),
                                      state=TaskState.SUCCESS, result=result, finished_at=utcnow(),
                                      runtime_s=self._runtime(), progress=100, error_type=None, error_message=None,
                                      traceback=None, detail=self._success_detail())
        except TRANSIENT_ERRORS as exc:
            self._retry_final_write(exc)
        self.request.tp_success_written = True
        return result

    def _success_detail(self) -> dict[str, Any] | None:
        """The retries it took, on the SUCCESS event: the RETRY events of attempts that met a database outage
        could not be written then."""
        return {"retries": self.request.retries} if self.request.retries else None

    def _retry_final_write(self, exc: BaseException) -> None:
        """The body ran, its SUCCESS could not be written: run it again later (Celery's retry, with the backoff
        autoretry uses), or fail it, dead-lettered, once the retries are spent."""
        countdown = get_exponential_backoff_interval(factor=self.retry_backoff, retries=self.request.retries,
                                                     maximum=self.retry_backoff_max, full_jitter=self.retry_jitter)
        logger.warning("task %s id=%s ran, but its SUCCESS could not be written (%s: %s): retrying in %ss",
                       self.name, self.request.id, type(exc).__name__, exc, countdown)
        raise self.retry(exc=exc, countdown=countdown)

    def _finish_short(self, task_id: str, retval: Any, started_at: datetime) -> None:
        runtime, queue, detail = self._runtime(), self._queue(), self._started_detail()
        if final_states.send(task_id, {"id": task_id, "name": self.name, "queue": queue,
                                       "started_at": started_at.isoformat(), "runtime_s": runtime, "result": retval,
                                       "started_detail": detail}):
            self.request.tp_final_sent = True
            return  # the main process writes it, with others, and acknowledges the message after the commit
        if single_statement_capable():
            held = run_on_driver(lambda connection: driver_path.finish_short(
                connection, task_id=task_id, name=self.name, queue=queue, now=utcnow(), started_at=started_at,
                runtime_s=runtime, result=retval, started_detail=detail))
        else:
            held = run_single_statement(lambda session: finish_short(
                session=session, task_id=task_id, name=self.name, queue=queue, started_at=started_at,
                runtime_s=runtime, result=retval, started_detail=detail))
        if held == TaskState.SUCCESS:
            logger.info("task %s id=%s ran again (a message delivered twice): its first SUCCESS stands",
                        self.name, task_id)
        elif held is not None:
            logger.warning("task %s id=%s ran, but its record was cancelled before it started: it stays %s",
                           self.name, task_id, held)

    def _dead_letter(self, exc: Exception, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """A task that exhausted its retries is kept, with its arguments, for replay."""
        try:
            with session_scope() as session:
                record_dead_letters(session=session, letters=[NewDeadLetter(
                    queue=self._queue() or "unknown", reason="retries_exhausted", task_name=self.name,
                    error=f"{type(exc).__name__}: {exc}", attempts=self.request.retries + 1,
                    body=json.dumps({"args": list(args), "kwargs": kwargs}, default=str))])
        except Exception:
            logger.exception("could not store task %s id=%s as a dead letter", self.name, self.request.id)
