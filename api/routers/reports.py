"""Daily report endpoints: `POST /relatorio/diario` and reading a report back."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Response

from api.deps import IdempotencyKey, SessionDep, SettingsDep
from api.enqueue import enqueue_or_503
from api.schemas.errors import ENQUEUE, NOT_FOUND
from api.schemas.params import IsoDate
from api.schemas.tasks import TaskAccepted
from storage.s3 import get_object
from taskplatform.core.object_store import s3_location
from taskplatform.gym.reports import get_daily_report
from taskplatform.messaging.celery_app import app as celery_app
from taskplatform.messaging.task_names import TaskName

router = APIRouter(tags=["reports"])


def _reportable(day: date, settings: Any) -> None:
    """A date the worker can report on: not in the future, not before REPORT_EARLIEST_DATE (the report also counts
    the same weekday a week before, and converts local midnights to UTC: year-1 dates fail there)."""
    if day > datetime.now(settings.tz).date():
        raise HTTPException(status_code=422, detail=[{"type": "date_future", "loc": ["query", "data"],
                                                      "msg": f"{day.isoformat()} is in the future", "input": str(day)}])
    if day < settings.report_earliest_date:
        raise HTTPException(status_code=422, detail=[{
            "type": "date_too_early", "loc": ["query", "data"], "input": str(day),
            "msg": f"{day.isoformat()} is before {settings.report_earliest_date.isoformat()} (REPORT_EARLIEST_DATE)"}])


@router.post("/relatorio/diario", status_code=202, response_model=TaskAccepted, responses=ENQUEUE)
def request_daily_report(
    session: SessionDep,
    settings: SettingsDep,
    response: Response,
    data: Annotated[IsoDate | None, Query(description="YYYY-MM-DD; default: today in TIMEZONE")] = None,
    idempotency_key: IdempotencyKey = None,
) -> TaskAccepted:
    """Generate (or regenerate) the attendance report of a date in the background."""
    day = data or datetime.now(settings.tz).date()
    _reportable(day, settings)
    signature = celery_app.signature(TaskName.REPORTS_DAILY.value, kwargs={"data": day.isoformat()})
    return enqueue_or_503(session=session, response=response, signature=signature, params={"data": day.isoformat()},
                          idempotency_key=idempotency_key)


@router.get("/relatorio/diario/{data}", responses=NOT_FOUND)
def read_daily_report(data: IsoDate, session: SessionDep) -> dict[str, Any]:
    """The stored report of a date; 404 until it has been generated."""
    report = get_daily_report(session=session, day=data)
    if report is None:
        raise HTTPException(status_code=404, detail=f"no report for {data.isoformat()} yet: POST /relatorio/diario"
                                                    f"?data={data.isoformat()}")
    return {**report.content, "generated_at": report.generated_at.isoformat(), "task_id": report.task_id,
            "chart_url": f"/relatorio/diario/{data.isoformat()}/grafico.png"}


@router.get("/relatorio/diario/{data}/grafico.png", response_class=Response,
            responses={200: {"content": {"image/png": {}}}, **NOT_FOUND})
async def daily_report_chart(data: IsoDate, session: SessionDep, settings: SettingsDep) -> Response:
    """The report's chart of check-ins per hour (PNG)."""
    report = get_daily_report(session=session, day=data)
    body = await get_object(s3_location(settings), report.chart_key) if report and report.chart_key else None
    if body is None:
        raise HTTPException(status_code=404, detail=f"no chart for {data.isoformat()} yet")
    return Response(content=body, media_type="image/png")
