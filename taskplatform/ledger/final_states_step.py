"""The worker's side of `final_states`: the bootstep that runs the writer in a prefork worker's main process, the
strategy that has a short task's state read before it goes to the pool, and the request class whose
acknowledgement waits for the task's row."""

from __future__ import annotations

import logging
from typing import Any

from celery import bootsteps
from celery.worker.request import Request
from celery.worker.state import task_ready
from celery.worker.strategy import default as default_strategy

from taskplatform.core.db import session_scope, utcnow
from taskplatform.core.settings import get_settings
from taskplatform.core.single_statement import run_on_driver, single_statement_capable
from taskplatform.ledger import driver_path
from taskplatform.ledger.cancellation import finish_canceled
from taskplatform.ledger.final_state_writer import FinalStateWriter
from taskplatform.ledger.final_states import install, installed
from taskplatform.ledger.records import CANCEL_STATES, TaskState

logger = logging.getLogger("taskplatform.ledger.final_states")

#: Seconds a warm shutdown waits for the last rows' commit before leaving their messages to be redelivered.
SETTLE_TIMEOUT_S = 30.0


def write_batch(batch: list[tuple[str, str]]) -> None:
    rows = "[" + ",".join(row for _, row in batch) + "]"
    written = run_on_driver(lambda connection: driver_path.finish_many(connection, rows=rows, now=utcnow()))
    if len(written) < len(batch):
        held = sorted({task_id for task_id, _ in batch} - set(written))
        logger.info("%d of %d tasks ran again or were cancelled before they started: their records stand (%s)",
                    len(held), len(batch), ", ".join(held[:5]))


def read_states(task_ids: list[str]) -> dict[str, str]:
    return run_on_driver(lambda connection: driver_path.states_of(connection, task_ids))


def on_checked(item: tuple[Any, Any], state: str | None) -> None:
    """A received short task whose state was read: to the pool, or acknowledged without running if cancelled."""
    request, handle = item
    if state not in CANCEL_STATES:
        request.request_dict["tp_checked"] = True  # the pool process reads no state of its own
        handle(request)
        return
    logger.info("task canceled: %s id=%s (canceled before it started)", request.name, request.id)
    writer = installed()
    if state == TaskState.CANCELING and writer is not None:
        writer.call(lambda: _finish_canceled(request.id))
    task_ready(request)
    request.acknowledge()


def _finish_canceled(task_id: str) -> None:
    with session_scope() as session:
        finish_canceled(session=session, task_id=task_id, reason="canceled before it started")


class _HandledBy:
    """The consumer, seen by Celery's default strategy, with another `on_task_request`."""

    def __init__(self, consumer: Any, on_task_request: Any) -> None:
        self._consumer, self.on_task_request = consumer, on_task_request

    def __getattr__(self, name: str) -> Any:
        return getattr(self._consumer, name)


def strategy(task: Any, app: Any, consumer: Any, **kwargs: Any) -> Any:
    """Celery's default strategy; for a short tracked task in a worker with the writer, the task goes to the pool
    once its state was read with others' (a task with an ETA or a rate limit skips this and reads its own)."""
    writer = installed()
    if writer is None or not (task.tracked and not task.ledger_started):
        return default_strategy(task, app, consumer, **kwargs)
    handle = consumer.on_task_request

    def checked_first(request: Any) -> None:
        writer.check(request.id, (request, handle))

    return default_strategy(task, app, _HandledBy(consumer, checked_first), **kwargs)


def _prefork(w: Any) -> bool:
    pool = w.pool_cls if isinstance(w.pool_cls, str) else f"{w.pool_cls.__module__}.{w.pool_cls.__name__}"
    return "prefork" in pool


class FinalStatesStep(bootsteps.StartStopStep):  # type: ignore[misc]
    """Created with the worker, before the pool forks (every step is created before any starts), so the pool
    processes inherit the writer's pipe."""

    requires = ("celery.worker.components:Hub",)
    label = "ledger final states"

    def __init__(self, w: Any, **kwargs: Any) -> None:
        super().__init__(w, **kwargs)
        self.writer: FinalStateWriter | None = None
        settings = get_settings()
        if (settings.ledger_batched_final_states and getattr(w, "use_eventloop", False) and _prefork(w)
                and single_statement_capable()):
            self.writer = FinalStateWriter(write_batch, read_states, on_checked,
                                           window_s=settings.ledger_batch_window_ms / 1000)
            install(self.writer)

    def include_if(self, w: Any) -> bool:
        return self.writer is not None

    def create(self, w: Any) -> FinalStateWriter | None:
        return self.writer

    def start(self, w: Any) -> None:
        assert self.writer is not None
        self.writer.start()
        w.hub.add_reader(self.writer.row_r, self.writer.drain)
        w.hub.add_reader(self.writer.wake_r, self.writer.acknowledge_committed)

    def stop(self, w: Any) -> None:
        # A worker blueprint's steps are stopped, never shut down (only consumer steps have `shutdown`).
        if self.writer is None:
            return
        if not self.writer.settle(SETTLE_TIMEOUT_S):
            logger.warning("some tasks' SUCCESS was not written before shutdown: their messages will be redelivered")
        self.writer.stop()


class FinalStateRequest(Request):  # type: ignore[misc]
    """A tracked task's request: when its pool process sent the task's row to the main process, the message is
    acknowledged once the row is committed, not when the task returns."""

    def acknowledge(self) -> None:
        writer = installed()
        if writer is not None and not self.acknowledged and writer.hold(self.id, self._acknowledge_now):
            return
        super().acknowledge()

    def _acknowledge_now(self) -> None:
        Request.acknowledge(self)
