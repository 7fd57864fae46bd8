"""Worker settings: processes, reserved messages, the liveness probe and the status inspection. Part of the one
`Settings` object (`taskplatform/core/settings.py`)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings


class WorkerSettings(BaseSettings):
    #: `/celery-status` and `/status` answer from one worker inspection this many seconds old at most (one
    #: that found no worker is not reused); callers during a refresh wait for it instead of starting their own.
    celery_status_cache_s: float = Field(default=5.0, ge=0)
    #: How long an inspection waits for workers to answer, in seconds (workers silent longer are not listed).
    celery_status_timeout_s: float = Field(default=1.0, gt=0)
    #: Processes of every worker (WORKER_CONCURRENCY); unset: the worker profile chooses
    #: (taskplatform/messaging/worker_profiles.py). `-c` on the command line wins over both.
    worker_concurrency: int | None = Field(default=None, ge=1)
    #: Processes of a worker that consumes only short-task queues, when neither `-c` nor WORKER_CONCURRENCY is
    #: given; unset: twice the CPUs the worker may use.
    worker_short_concurrency: int | None = Field(default=None, ge=1)
    #: Messages reserved per worker process by a worker that consumes only short-task queues
    #: (taskplatform/messaging/worker_profiles.py); any other worker reserves one.
    worker_short_prefetch: int = Field(default=16, ge=1, le=1000)
    #: Worker liveness (taskplatform/messaging/liveness.py): each worker's consumer loop writes its progress to a
    #: file in this folder every `worker_liveness_interval_s`; the probe calls a worker stuck once it has taken no
    #: message for `worker_liveness_stale_after_s` while one of its queues holds ready messages.
    worker_liveness_dir: Path = Field(default_factory=lambda: Path(tempfile.gettempdir()))
    worker_liveness_interval_s: float = Field(default=10.0, gt=0)
    worker_liveness_stale_after_s: float = Field(default=120.0, gt=0)

    @model_validator(mode="after")
    def _liveness_window_holds_several_ticks(self) -> WorkerSettings:
        # A file written every interval must not look stale between two writes: three ticks at least.
        if self.worker_liveness_stale_after_s < 3 * self.worker_liveness_interval_s:
            raise ValueError("WORKER_LIVENESS_STALE_AFTER_S must be at least 3 x WORKER_LIVENESS_INTERVAL_S")
        return self
