"""Rendering a console page: the Jinja2 environment, the values every page needs, and the CSRF cookie."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from api.auth.credentials import WRITE
from api.console.session import CSRF_COOKIE, cookie_options, new_csrf_token
from taskplatform.core.settings import get_settings

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
STATIC = Path(__file__).resolve().parent.parent / "static" / "painel"
#: The menu: every view has its own URL.
MENU = (("/painel", "Visão geral"), ("/painel/tarefas", "Tarefas"), ("/painel/dead-letters", "Dead letters"),
        ("/painel/agendamentos", "Agendamentos"), ("/painel/academia", "Academia"), ("/painel/modelos", "Modelos"),
        ("/painel/dispositivos", "Dispositivos"))


def local_time(value: datetime | str | None, pattern: str = "%d/%m/%Y %H:%M:%S") -> str:
    """A UTC instant as the operator reads it: in TIMEZONE."""
    if value is None:
        return "—"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(get_settings().tz).strftime(pattern)


@cache
def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["local"] = local_time
    return env


def can_write(request: Request) -> bool:
    """Whether the buttons work for this caller: auth is off, or the credential has the write scope."""
    if not getattr(request.state, "auth_configured", False):
        return True
    return WRITE in getattr(request.state, "credential_scopes", ())


def page(request: Request, template: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    """`template` rendered with the menu, the caller's rights and the CSRF token (the cookie set if missing)."""
    token = request.cookies.get(CSRF_COOKIE) or new_csrf_token()
    html = environment().get_template(template).render(
        request_path=request.url.path, menu=MENU, csrf=token, can_write=can_write(request),
        signed_in=getattr(request.state, "credential_id", None), auth=getattr(request.state, "auth_configured", False),
        timezone=get_settings().timezone, **context)
    response = HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})
    if request.cookies.get(CSRF_COOKIE) != token:
        response.set_cookie(CSRF_COOKIE, token, **cookie_options(secure=request.url.scheme == "https"))  # type: ignore[arg-type]
    return response
