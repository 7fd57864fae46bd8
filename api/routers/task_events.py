"""Live task transitions as Server-Sent Events: `/tarefa/{task_id}/eventos` and `/tarefas/eventos`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Request
from starlette.concurrency import run_in_threadpool

from api.schemas.params import MAX_JSON_INT
from api.sse import HEADERS, EventStreamResponse, follow
from api.validation import FilterText, PathText
from taskplatform.core.db import new_session
from taskplatform.ledger.feed import Interest, TransitionFeed
from taskplatform.ledger.records import FINAL_STATES, TaskState, get_task_record
from taskplatform.ledger.transitions import Transition, history_after, task_history

router = APIRouter(tags=["tasks"])

#: A list stream resumed with its last id replays at most this many transitions, then ends (the client resumes).
LIST_REPLAY = 1000


def _stream_doc(description: str) -> dict[int | str, dict[str, Any]]:
    return {200: {"description": description,
                  "content": {"text/event-stream": {"schema": {"type": "string"}}}}}


#: Spelled out: a `model` would be documented with the route's media type (text/event-stream), not as JSON.
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {
    "description": "no such task",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}}}


LastEventHeader = Annotated[int | None, Header(
    alias="Last-Event-ID", ge=0, le=MAX_JSON_INT,
    description="The `id` of the last event received: the stream resumes after it (an EventSource sends it when "
                "it reconnects)")]
LastEventQuery = Annotated[int | None, Query(ge=0, le=MAX_JSON_INT,
                                             description="As the Last-Event-ID header (which wins when both are "
                                                         "given), for clients that cannot set headers")]


def feed_of(request: Request) -> TransitionFeed:
    feed: TransitionFeed = request.app.state.transition_feed
    return feed


def _task_exists(task_id: str) -> bool:
    with new_session() as session:
        return get_task_record(session=session, task_id=task_id) is not None


@router.get("/tarefa/{task_id}/eventos", response_class=EventStreamResponse,
            responses={**_stream_doc("one event per transition"), **NOT_FOUND})
async def task_event_stream(request: Request, task_id: PathText, last_event_header: LastEventHeader = None,
                            last_event_id: LastEventQuery = None) -> EventStreamResponse:
    """Server-Sent Events: each transition of one task (`id:` its event id, `event: transition`, `data:` JSON
    `{"task_id", "state", "progress", "message", "at"}`), first those so far (after `Last-Event-ID` when given),
    then live ones; the stream ends after the event of a final state. A `: ping` comment every 15 s keeps proxies
    from closing it. 404 if the task is unknown."""
    if not await run_in_threadpool(_task_exists, task_id):
        raise HTTPException(status_code=404, detail=f"unknown task id {task_id!r}")
    last = last_event_header if last_event_header is not None else last_event_id

    def history() -> tuple[list[Transition], bool]:
        with new_session() as session:
            # Read first: a finished record's final event is committed with it (one transaction), so the replay
            # has it, or the client had it already (its Last-Event-ID is past it): nothing left to follow.
            record = get_task_record(session=session, task_id=task_id)
            finished = record is None or record.state in FINAL_STATES
            return task_history(session=session, task_id=task_id, after=last), not finished

    stream = follow(feed_of(request), Interest(task_id=task_id), history=history, last_id=last, stop_at_final=True)
    return EventStreamResponse(stream, headers=HEADERS)


@router.get("/tarefas/eventos", response_class=EventStreamResponse,
            responses=_stream_doc("one event per transition of a matching task"))
async def task_list_event_stream(request: Request, state: TaskState | None = None, name: FilterText = None,
                                 queue: FilterText = None, last_event_header: LastEventHeader = None,
                                 last_event_id: LastEventQuery = None) -> EventStreamResponse:
    """Server-Sent Events: each transition of any task matching the filters (the state entered, the task's name and
    queue), as `/tarefa/{task_id}/eventos` sends them, with the task's `name` and `queue` in `data`; a new task
    appears as its QUEUED transition. From now on, or from after `Last-Event-ID`. Never ends by itself."""
    last = last_event_header if last_event_header is not None else last_event_id

    def history() -> tuple[list[Transition], bool]:
        if last is None:
            return [], True
        with new_session() as session:
            found = history_after(session=session, after=last, state=state, name=name, queue=queue,
                                  limit=LIST_REPLAY)
        return found, len(found) < LIST_REPLAY

    interest = Interest(state=state, name=name or None, queue=queue or None)
    stream = follow(feed_of(request), interest, history=history, last_id=last, stop_at_final=False, listing=True)
    return EventStreamResponse(stream, headers=HEADERS)
