"""The FastAPI application: `uvicorn api.main:app`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles

from api.auth import AccessMiddleware, Verifier, document_access
from api.body_limit import BodyLimitMiddleware, route_limits
from api.console import domains as console_domains
from api.console import overview as console_overview
from api.console import signin as console_signin
from api.console import tasks as console_tasks
from api.console.proxy import ConsoleMiddleware
from api.console.render import STATIC
from api.console.session import SESSION_COOKIE, SessionSigner, signing_key
from api.routers import (
    checkins,
    churn,
    dead_letters,
    devices,
    housing,
    reports,
    schedules,
    sessions,
    system,
    task_control,
    task_events,
    task_status,
    textgen,
)
from api.schemas.openapi import complete_openapi
from api.validation import answer_invalid_messages
from storage.s3 import shared_clients
from taskplatform.core.db import new_session
from taskplatform.core.settings import Settings, get_settings

# The domains' raw queues, registered with the platform, so dead letters from them replay as their tasks.
from taskplatform.devices import raw_queue as _devices_raw_queue  # noqa: F401
from taskplatform.ledger.feed import TransitionFeed
from taskplatform.sessions import raw_queue as _sessions_raw_queue  # noqa: F401


def _operation_id(route: APIRoute) -> str:
    return f"{route.tags[0]}-{route.name}" if route.tags else route.name


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    # The live streams' one poller (it starts with the first stream); closing it ends the open streams, so
    # shutdown does not wait for clients that would never hang up.
    app.state.transition_feed = TransitionFeed(new_session)
    try:
        async with shared_clients():  # the routes reuse one S3 client per location, closed at shutdown
            yield
    finally:
        await app.state.transition_feed.close()


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API with its access rules: credentials from `settings`, documentation off in production
    unless API_DOCS is true."""
    settings = settings or get_settings()
    docs = settings.docs_enabled
    app = FastAPI(
        title="taskplatform",
        description="Enqueue background work and follow every task at `/tarefa/{task_id}`.",
        version="1.0.0",
        generate_unique_id_function=_operation_id,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
        lifespan=_lifespan,
    )
    verifier = Verifier.from_settings(settings)
    signer = SessionSigner(signing_key(settings))
    app.state.console_verifier, app.state.console_signer = verifier, signer
    app.add_middleware(AccessMiddleware, verifier=verifier,
                       textgen_public=settings.textgen_public, textgen_public_rate=settings.textgen_public_rate,
                       console_session=lambda cookies: signer.verify(cookies.get(SESSION_COOKIE)))
    app.add_middleware(BodyLimitMiddleware, default=settings.max_body_bytes, per_route=route_limits(settings))
    app.add_middleware(ConsoleMiddleware)  # outermost: the others see the API path of a console call
    answer_invalid_messages(app)
    for module in (system, task_status, task_control, task_events, checkins, reports, churn, devices, sessions,
                   dead_letters, schedules, housing, textgen, console_signin, console_overview, console_tasks,
                   console_domains):
        app.include_router(module.router)
    app.mount("/painel/static", StaticFiles(directory=STATIC), name="painel-static")

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = FastAPI.openapi(app)
            for module in (checkins, devices, sessions):  # what the app's settings limit
                module.document_limits(document["paths"], settings)
            app.openapi_schema = complete_openapi(document_access(document, textgen_public=settings.textgen_public))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

app = create_app()
