"""Beat's fires, read-only: which beat sent each one and which attempts were skipped (`schedule_runs`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import SessionDep
from api.schemas.schedules import ScheduleRunList, ScheduleRunOut
from api.validation import FilterText, Offset
from taskplatform.messaging.schedule_runs import list_schedule_runs

router = APIRouter(tags=["schedule"])


@router.get("/agendamentos", response_model=ScheduleRunList)
def schedule_runs(session: SessionDep,
                  schedule: Annotated[FilterText, Query(description="only this beat entry, e.g. `daily-report`")]
                  = None,
                  limit: Annotated[int, Query(ge=1, le=1000)] = 100, offset: Offset = 0) -> ScheduleRunList:
    """Beat's fires, newest fire time first: one per (entry, fire time) however many beats run, with the beat
    that sent it and how many other beats' attempts were skipped."""
    page = list_schedule_runs(session=session, schedule=schedule, limit=limit, offset=offset)
    return ScheduleRunList.of(page, [ScheduleRunOut.model_validate(run) for run in page.items])
