"""The console's views of the domains: `/painel/dead-letters`, `/painel/academia`, `/painel/modelos`,
`/painel/dispositivos`. Each reads through the JSON API's own route functions."""

from __future__ import annotations

from datetime import date, datetime

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from api.console.render import page
from api.console.tasks import _since
from api.deps import SessionDep, SettingsDep
from api.routers import churn, devices, housing
from api.routers.dead_letters import dead_letters
from api.routers.reports import read_daily_report

router = APIRouter(prefix="/painel", include_in_schema=False)

LETTERS_PER_PAGE = 50
RANKING_SIZE = 20
#: More devices than this are paged by the JSON API (`/devices?offset=`); the console shows the first ones.
DEVICES_SHOWN = 500


@router.get("/dead-letters", response_class=HTMLResponse)
def letters(request: Request, session: SessionDep, queue: str = "", reason: str = "", since: str = "",
            replayed: str = "", offset: int = 0) -> Response:
    flag = {"sim": True, "nao": False}.get(replayed)
    found = dead_letters(session, queue=queue or None, reason=reason or None, since=_since(since), replayed=flag,
                         limit=LETTERS_PER_PAGE, offset=max(0, offset))
    return page(request, "painel/dead_letters.html", letters=found,
                filters={"queue": queue, "reason": reason, "since": since, "replayed": replayed},
                since_utc=_since(since))


@router.get("/academia", response_class=HTMLResponse)
def gym(request: Request, session: SessionDep, settings: SettingsDep, data: str = "") -> Response:
    try:
        day = date.fromisoformat(data) if data else datetime.now(settings.tz).date()
    except ValueError:
        day = datetime.now(settings.tz).date()
    try:
        report = read_daily_report(day, session)
    except HTTPException:
        report = None
    return page(request, "painel/academia.html", day=day.isoformat(), report=report,
                max_hour=max((report or {}).get("checkins_per_hour", {}).values(), default=0) if report else 0,
                ranking=churn.churn_ranking(session, limit=RANKING_SIZE), models=churn.churn_models(session))


@router.get("/modelos", response_class=HTMLResponse)
def models(request: Request, session: SessionDep) -> Response:
    return page(request, "painel/modelos.html", housing=housing.housing_models(session),
                churn=churn.churn_models(session))


@router.get("/dispositivos", response_class=HTMLResponse)
def fleet(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """Stale devices first: two calls of `/devices`' own function, stale and then fresh."""
    stale = devices.devices(session, settings, wifi_status=None, stale=True, limit=DEVICES_SHOWN, offset=0)
    fresh = devices.devices(session, settings, wifi_status=None, stale=False, limit=DEVICES_SHOWN, offset=0)
    return page(request, "painel/dispositivos.html", devices=[*stale.items, *fresh.items],
                total=stale.total + fresh.total, stale_total=stale.total, stale_after_s=stale.stale_after_s)
