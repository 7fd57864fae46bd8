"""Task settings: limits, retries, the ledger's writes and how long records are kept. Part of the one `Settings`
object (`taskplatform/core/settings.py`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings


class TaskSettings(BaseSettings):
    #: Default hard and soft time limits of a task, in seconds.
    task_time_limit: int = 1800
    task_soft_time_limit: int = 1500
    #: Attempts for transient faults (broker, database, object store unavailable).
    task_max_retries: int = 8
    #: Redis only: a task still QUEUED this many seconds after it was enqueued is published again, once
    #: (its message may have been lost with a killed worker; taskplatform/ledger/redelivery.py).
    task_redeliver_after: float = Field(default=900.0, gt=0)
    #: Short tasks' state read and SUCCESS written by the worker's main process, many in one statement, each
    #: message acknowledged after its commit (taskplatform/ledger/final_states.py; prefork pool on PostgreSQL).
    #: false: each pool process reads and writes its own.
    ledger_batched_final_states: bool = True
    #: ...and under load, at most one such read and one write every this many milliseconds: the tasks that arrive
    #: meanwhile share them (after a quiet spell the first goes at once). 0: as soon as the last one returned.
    ledger_batch_window_ms: float = Field(default=10.0, ge=0, le=1000)
    #: Days a finished task's record (and its events) stays in the ledger; 0 keeps them forever.
    task_retention_days: int = Field(default=30, ge=0)
    #: Days a dead letter stays after it was replayed (never-replayed ones always stay); 0: forever.
    dead_letter_retention_days: int = Field(default=90, ge=0)
