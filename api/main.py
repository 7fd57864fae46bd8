"""The FastAPI application: `uvicorn api.main:app`."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from api.routers import (
    checkins,
    churn,
    dead_letters,
    devices,
    housing,
    reports,
    sessions,
    system,
    task_status,
    textgen,
)
from api.schemas.openapi import complete_openapi
from api.security import ApiKeyMiddleware, document_api_key


def _operation_id(route: APIRoute) -> str:
    return f"{route.tags[0]}-{route.name}" if route.tags else route.name


logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

app = FastAPI(
    title="taskplatform",
    description="Enqueue background work and follow every task at `/tarefa/{task_id}`.",
    version="1.0.0",
    generate_unique_id_function=_operation_id,
)
app.add_middleware(ApiKeyMiddleware)
app.include_router(system.router)
app.include_router(task_status.router)
app.include_router(checkins.router)
app.include_router(reports.router)
app.include_router(churn.router)
app.include_router(devices.router)
app.include_router(sessions.router)
app.include_router(dead_letters.router)
app.include_router(housing.router)
app.include_router(textgen.router)


def _openapi() -> dict[str, Any]:
    if app.openapi_schema is None:
        app.openapi_schema = complete_openapi(document_api_key(FastAPI.openapi(app)))
    return app.openapi_schema


app.openapi = _openapi  # type: ignore[method-assign]
