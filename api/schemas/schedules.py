"""`GET /agendamentos`: beat's fires as `schedule_runs` records them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.paging import PageOut


class ScheduleRunOut(BaseModel):
    """One fire of a beat entry: the beat that sent it, and the other beats' attempts that were skipped."""

    model_config = ConfigDict(from_attributes=True)

    schedule: str = Field(description="the beat entry, e.g. `daily-report`")
    fire_time: datetime = Field(description="the instant the fire is for (a crontab's boundary, an interval's "
                                            "epoch-aligned slot), UTC")
    task: str = Field(description="the task name sent")
    task_id: str = Field(description="the task sent (see `/tarefa/{task_id}`)")
    fired_by: str = Field(description="the beat that claimed the fire and sent it (`host:pid`)")
    claimed_at: datetime
    sent_at: datetime | None = Field(description="when the broker took the task; null: the send failed or the "
                                                 "beat stopped before it, and this fire did not run")
    skipped: int = Field(description="attempts of other beats at this fire, refused")
    skipped_by: str | None = Field(description="the last beat whose attempt was skipped")
    skipped_at: datetime | None


class ScheduleRunList(PageOut):
    items: list[ScheduleRunOut]
