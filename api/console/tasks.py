"""`/painel/tarefas` (filters, newest first, paged by `/tarefas`' cursor) and `/painel/tarefas/{id}` (one task)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response

from api.console.render import page
from api.deps import SessionDep
from api.routers.task_status import get_task, list_tasks
from api.schemas.tasks import TaskListOut
from taskplatform.core.settings import get_settings
from taskplatform.ledger.records import TaskState

router = APIRouter(prefix="/painel", include_in_schema=False)

PAGE_SIZE = 50


def _since(text: str) -> datetime | None:
    """A `datetime-local` value (TIMEZONE) or an ISO instant, in UTC; None when empty or unreadable."""
    try:
        moment = datetime.fromisoformat(text) if text else None
    except ValueError:
        return None
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=get_settings().tz)
    return moment.astimezone(UTC) if moment else None


@router.get("/tarefas", response_class=HTMLResponse)
def task_list(request: Request, session: SessionDep, state: str = "", name: str = "", queue: str = "",
              since: str = "", cursor: str = "") -> Response:
    """Newest first, through `GET /tarefas` itself: `cursor` is its `proximo` (a cursor it refuses shows the first
    page, with a 422)."""
    known = TaskState(state) if state in TaskState.__members__ else None
    refused = False
    if state and known is None:  # no task is ever in a state that does not exist
        listing = TaskListOut(total=0, limit=PAGE_SIZE, offset=0, items=[])
    else:
        def listed(at: str | None) -> TaskListOut:
            return list_tasks(session=session, state=known, name=name or None, queue=queue or None,
                              since=_since(since), limit=PAGE_SIZE, cursor=at, offset=0)
        try:
            listing = listed(cursor or None)
        except RequestValidationError:
            listing, refused = listed(None), True
    return page(request, "painel/tarefas.html", status_code=422 if refused else 200,
                tasks=listing.items, next_cursor=listing.proximo, total=listing.total,
                estimated=listing.total_estimado, bad_cursor=refused, first_page=not cursor or refused,
                filters={"state": state, "name": name, "queue": queue, "since": since},
                states=[s.value for s in TaskState])


def _links(task: dict[str, Any]) -> dict[str, Any]:
    """The re-run links of the task (fields the cancel/re-run work adds to `/tarefa/{id}`; absent before it)."""
    return {"rerun_of": task.get("reexecucao_de"), "reruns": task.get("reexecucoes") or []}


@router.get("/tarefas/{task_id}", response_class=HTMLResponse)
def task_detail(request: Request, task_id: str, session: SessionDep) -> Response:
    try:
        task = get_task(task_id, session).model_dump(mode="json")
    except HTTPException:
        return page(request, "painel/nao_encontrado.html", status_code=404, what=f"a tarefa {task_id}")
    return page(request, "painel/tarefa.html", task=task, **_links(task))
