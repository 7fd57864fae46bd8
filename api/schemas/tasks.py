"""HTTP models of the task ledger (`/tarefa`, `/tarefas`) and of an accepted task."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.paging import PageOut


class TaskAccepted(BaseModel):
    """Returned with 202 by every endpoint that enqueues a task."""

    task_id: str
    status_url: str
    state: str


class TaskRerunAccepted(TaskAccepted):
    """202 of `POST /tarefa/{id}/reexecutar`: the new task, and the one it re-runs."""

    reexecucao_de: str


class TaskCancelOut(BaseModel):
    """202 of `POST /tarefa/{id}/cancelar`: CANCELED (it had not started) or CANCELING (it stops at its next
    progress point)."""

    task_id: str
    state: str


class TaskEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    state: str
    at: datetime
    detail: dict[str, Any] | None = None


class TaskRecordOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, validate_by_name=True, validate_by_alias=True)

    task_id: str = Field(validation_alias="id")
    name: str
    queue: str | None
    state: str
    progress: int | None = None
    progress_message: str | None = None
    params: dict[str, Any] | None = None
    result: Any | None = None
    error_type: str | None = None
    error_message: str | None = None
    traceback: str | None = None
    attempts: int
    runtime_s: float | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    updated_at: datetime
    #: Redis only: when the platform published the task again because its message was lost
    redelivered_at: datetime | None = None
    canceled_at: datetime | None = None
    #: the credential id of whoever cancelled it, or "anonymous"
    canceled_by: str | None = None
    #: the task this one re-runs
    reexecucao_de: str | None = Field(default=None, validation_alias="rerun_of")


class TaskDetailOut(TaskRecordOut):
    events: list[TaskEventOut]
    #: ids of the tasks re-running this one, oldest first
    reexecucoes: list[str] = []


class TaskListOut(PageOut):
    """A page of `/tarefas`. `total` counts every match of the filters (not only those after `cursor`)."""

    items: list[TaskRecordOut]
    #: true when `total` is PostgreSQL's estimate (10,000 matches or more), false when it was counted exactly
    total_estimado: bool = False
    #: the `cursor` of the next page (older tasks), null on the last page
    proximo: str | None = None
