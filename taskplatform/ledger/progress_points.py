"""`ProgressPoints`: where a running task meets its cancellation. A tracked task's progress report and its
explicit checks (`stop_if_canceled`, `cancel_probe`) read the ledger and stop the task (`TaskCanceled`) once it
was asked to. A part of `TrackedTask` (tracked_task.py), which supplies `_record` and Celery's task attributes."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from celery import Task
from celery.backends.base import DisabledBackend

from taskplatform.core.db import session_scope
from taskplatform.ledger.cancellation import TaskCanceled, finish_canceled, is_canceling
from taskplatform.ledger.records import CANCEL_STATES, TaskState

logger = logging.getLogger("taskplatform.tasks")


class ProgressPoints:
    tracked: bool
    name: str
    request: Any
    backend: Any

    def _record(self, task_id: str, state: TaskState, detail: dict[str, Any] | None = None,
                **fields: Any) -> str | None:
        raise NotImplementedError

    def _stop_canceled(self, task_id: str, state: str | None, reason: str) -> None:
        """Raise `TaskCanceled` if the ledger says this task was cancelled, first moving CANCELING to CANCELED."""
        if state not in CANCEL_STATES:
            return
        if state == TaskState.CANCELING:
            try:
                with session_scope() as session:
                    finish_canceled(session=session, task_id=task_id, reason=reason)
            except Exception:  # the record stays CANCELING; a redelivery would stop it again
                logger.exception("ledger write failed: task=%s id=%s state=CANCELED", self.name, task_id)
        logger.info("task canceled: %s id=%s (%s)", self.name, task_id, reason)
        raise TaskCanceled(reason)

    def _canceling(self) -> bool:
        task_id = self.request.id
        if not self.tracked or not task_id:
            return False
        try:
            with session_scope() as session:
                return is_canceling(session=session, task_id=task_id)
        except Exception:
            logger.exception("ledger read failed: task=%s id=%s", self.name, task_id)
            return False

    def cancel_probe(self, every_s: float = 0.5) -> Callable[[], bool]:
        """For loops too tight for a ledger read each turn (tokens): a check that is True once the task was asked
        to stop, reading the ledger at most every `every_s` seconds. Follow it with `stop_if_canceled()`."""
        seen = {"at": time.monotonic(), "canceling": False}

        def canceling() -> bool:
            if not seen["canceling"] and time.monotonic() - seen["at"] >= every_s:
                seen.update(at=time.monotonic(), canceling=self._canceling())
            return bool(seen["canceling"])

        return canceling

    def stop_if_canceled(self) -> None:
        """A progress point without progress to report (between tokens, say): stop if the task was cancelled."""
        if self._canceling():
            self._stop_canceled(self.request.id, TaskState.CANCELING, "canceled while running")

    def report_progress(self, percent: int, message: str) -> None:
        """Record progress (0-100 and a stage) visible at `/tarefa/{id}`; a progress point: raises `TaskCanceled`
        if the task was cancelled."""
        self.update_state(state=TaskState.PROGRESS, meta={"percent": percent, "message": message})

    def update_state(self, task_id: str | None = None, state: str | None = None, meta: dict[str, Any] | None = None,
                     **kwargs: Any) -> None:
        task_id = task_id or self.request.id
        if state == TaskState.PROGRESS and task_id:
            meta = meta or {}
            state = self._record(task_id, TaskState.PROGRESS, progress=meta.get("percent"),
                                 progress_message=meta.get("message"), detail=meta)
            self._stop_canceled(task_id, state, f"canceled at {meta.get('percent')}%: {meta.get('message')}")
        if not isinstance(self.backend, DisabledBackend):
            Task.update_state(self, task_id=task_id, state=state, meta=meta, **kwargs)
