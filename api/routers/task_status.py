"""Task ledger endpoints: `/tarefa/{task_id}` and `/tarefas`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from fastapi.exceptions import RequestValidationError

from api.deps import SessionDep
from api.schemas.errors import NOT_FOUND
from api.schemas.params import IsoDatetime
from api.schemas.tasks import TaskDetailOut, TaskEventOut, TaskListOut, TaskRecordOut
from api.task_results import present_result
from api.validation import DB_INT_MAX, FilterText, PathText, UtcMoment
from taskplatform.core.cursor import MAX_LENGTH, BadCursor, Key, decode_cursor, encode_cursor
from taskplatform.ledger.listing import TaskFilter, list_task_records
from taskplatform.ledger.models import TaskRecord
from taskplatform.ledger.records import TaskState, get_task_record, reruns_of, task_events

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


#: The 422 of a `cursor` this API did not hand out, as FastAPI words a refused query parameter.
BAD_CURSOR = "not a cursor of /tarefas: pass a page's `proximo` back as it came"


def _position(cursor: str | None) -> Key | None:
    if cursor is None:
        return None
    try:
        return decode_cursor(cursor)
    except BadCursor:
        raise RequestValidationError([{"type": "value_error", "loc": ("query", "cursor"), "msg": BAD_CURSOR,
                                       "input": cursor}]) from None


@router.get("/tarefas", response_model=TaskListOut)
def list_tasks(
    session: SessionDep,
    state: TaskState | None = None,
    name: FilterText = None,
    queue: FilterText = None,
    since: Annotated[IsoDatetime | None, UtcMoment, Query(description="Created at or after (ISO 8601; local TIMEZONE "
                                                        "when no offset)")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=MAX_LENGTH, description=(
        "Where the page starts: the `proximo` of the previous page. Each page costs the same however deep, and "
        "tasks created meanwhile never shift it"))] = None,
    offset: Annotated[int, Query(ge=0, le=DB_INT_MAX, description=(
        "Rows skipped (after `cursor` when both are given). Kept for compatibility: the database reads every "
        "skipped row, so a deep offset is slow (hundreds of ms at a million tasks); page with `cursor`"))] = 0,
) -> TaskListOut:
    """Tasks, newest first, filtered by state, name, queue and creation time. Page with `cursor` (the previous
    page's `proximo`); `total` is exact below 10,000 matches, else PostgreSQL's estimate (`total_estimado`)."""
    page = list_task_records(session=session, filters=TaskFilter(state=state, name=name, queue=queue, since=since),
                             limit=limit, offset=offset, after=_position(cursor))
    return TaskListOut(total=page.total, limit=page.limit, offset=page.offset, total_estimado=page.estimated,
                       proximo=encode_cursor(page.next_key) if page.next_key else None,
                       items=[_record_out(r) for r in page.items])
