"""`/painel/tarefas` (filters, newest first, keyset pages) and `/painel/tarefas/{id}` (one task)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from api.console.render import page
from api.deps import SessionDep
from api.routers.task_status import _record_out, get_task
from taskplatform.core.settings import get_settings
from taskplatform.ledger.records import TaskFilter, TaskState, list_task_records_after

router = APIRouter(prefix="/painel", include_in_schema=False)

PAGE_SIZE = 50
#: Separates created_at from the id in the `apos` cursor (an ISO instant never holds it).
CURSOR_SEP = "|"


def _since(text: str) -> datetime | None:
    """A `datetime-local` value (TIMEZONE) or an ISO instant, in UTC; None when empty or unreadable."""
    try:
        moment = datetime.fromisoformat(text) if text else None
    except ValueError:
        return None
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=get_settings().tz)
    return moment.astimezone(UTC) if moment else None


def _cursor(text: str) -> tuple[datetime, str] | None:
    created, sep, task_id = text.partition(CURSOR_SEP)  # the instant never holds it; an id might
    try:
        return (datetime.fromisoformat(created), task_id) if sep and task_id else None
    except ValueError:
        return None


@router.get("/tarefas", response_class=HTMLResponse)
def task_list(request: Request, session: SessionDep, state: str = "", name: str = "", queue: str = "",
              since: str = "", apos: str = "") -> Response:
    """Newest first; `apos` is the (created_at, id) of the last row of the previous page."""
    filters = TaskFilter(state=state or None, name=name or None, queue=queue or None, since=_since(since))
    found = list_task_records_after(session=session, filters=filters, limit=PAGE_SIZE, after=_cursor(apos))
    next_cursor = f"{found.next_key[0].isoformat()}{CURSOR_SEP}{found.next_key[1]}" if found.next_key else None
    return page(request, "painel/tarefas.html", tasks=[_record_out(r) for r in found.items], next_cursor=next_cursor,
                filters={"state": state, "name": name, "queue": queue, "since": since}, first_page=not apos,
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
