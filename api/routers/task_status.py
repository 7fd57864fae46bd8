"""Task ledger endpoints: `/tarefa/{task_id}` and `/tarefas`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from api.deps import SessionDep
from api.schemas.errors import NOT_FOUND
from api.schemas.params import IsoDatetime
from api.schemas.tasks import TaskDetailOut, TaskEventOut, TaskListOut, TaskRecordOut
from api.task_results import present_result
from api.validation import FilterText, Offset, PathText, UtcMoment
from taskplatform.ledger.models import TaskRecord
from taskplatform.ledger.records import (
    TaskFilter,
    TaskState,
    get_task_record,
    list_task_records,
    reruns_of,
    task_events,
)

router = APIRouter(tags=["tasks"])


def _record_out(record: TaskRecord) -> TaskRecordOut:
    out = TaskRecordOut.model_validate(record)
    out.result = present_result(record.name, out.result)
    return out


@router.get("/tarefa/{task_id}", response_model=TaskDetailOut, responses=NOT_FOUND)
def get_task(task_id: PathText, session: SessionDep) -> TaskDetailOut:
    """State, progress, result or error of one task, with its transitions, who cancelled it, the task it re-runs
    and its re-runs; 404 if unknown."""
    record = get_task_record(session=session, task_id=task_id)
    if record is None:
        raise HTTPException(status_code=404, detail=f"unknown task id {task_id!r}")
    events = [TaskEventOut.model_validate(e) for e in task_events(session=session, task_id=task_id)]
    return TaskDetailOut(**_record_out(record).model_dump(), events=events,
                         reexecucoes=reruns_of(session=session, task_id=task_id))


@router.get("/tarefas", response_model=TaskListOut)
def list_tasks(
    session: SessionDep,
    state: TaskState | None = None,
    name: FilterText = None,
    queue: FilterText = None,
    since: Annotated[IsoDatetime | None, UtcMoment, Query(description="Created at or after (ISO 8601; local TIMEZONE "
                                                        "when no offset)")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> TaskListOut:
    """Tasks, newest first, filtered by state, name, queue and creation time."""
    page = list_task_records(session=session, filters=TaskFilter(state=state, name=name, queue=queue, since=since),
                             limit=limit, offset=offset)
    return TaskListOut.of(page, [_record_out(r) for r in page.items])
