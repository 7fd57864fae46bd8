"""Platform endpoints: `/`, `/status`, `/celery-status` and `/metrics`."""

from __future__ import annotations

import asyncio
from functools import cache
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from sqlalchemy import select

from api.auth import shows_details
from api.deps import SettingsDep
from taskplatform.core.db import session_scope
from taskplatform.core.health import check_broker, check_database, check_object_store, check_workers
from taskplatform.core.metrics import PlatformCollector
from taskplatform.core.settings import get_settings
from taskplatform.messaging.celery_app import app as celery_app
from taskplatform.messaging.queues import TASK_QUEUES
from taskplatform.messaging.worker_status import InspectionCache
from taskplatform.registry.models import ModelVersion

router = APIRouter(tags=["platform"])


@cache
def _metrics_registry() -> CollectorRegistry:
    """This process's metrics registry, made on the first scrape (it reads the settings), not at import."""
    registry = CollectorRegistry()
    registry.register(PlatformCollector(get_settings()))
    return registry


@cache
def worker_inspections() -> InspectionCache:
    """This process's worker inspections, made on first use."""
    settings = get_settings()
    return InspectionCache.for_app(celery_app, max_age=settings.celery_status_cache_s,
                                   timeout=settings.celery_status_timeout_s)


@router.get("/")
def root(request: Request) -> dict[str, Any]:
    """What this service is, and where to look next (the documentation only where it is served)."""
    return {
        "name": "taskplatform",
        "description": "Background work of the gym, housing-price, text-generation, UX-session and "
                       "Raspberry Pi systems, as Celery tasks tracked in a SQL ledger.",
        "docs": request.app.docs_url,
        "redoc": request.app.redoc_url,
        "status": "/status",
        "celery_status": "/celery-status",
        "tasks": "/tarefas",
        "metrics": "/metrics",
        "queues": list(TASK_QUEUES),
        # The housing-price API v9's own entry points, kept from its seed.
        "imoveis": {
            "treinar": "POST /treinar (JSON {dados, alvo} or CSV upload; ?assincrono=true for a task)",
            "prever": "POST /prever ({dados}; ?assincrono=true for a task)",
            "modelos": "/modelos/imoveis",
            "tarefa": "/tarefa/{task_id}",
            "celery_status": "/celery-status",
        },
        "textgen": {"predict": "POST /api/predict", "result": "/api/result/{job_id}", "demo": "/demo"},
    }


@router.get("/status", responses={503: {"description": "something is down: the same answer, with its reason",
                                        "content": {"application/json": {"schema": {"type": "object"}}}}})
async def status(settings: SettingsDep, request: Request, response: Response,
                 workers: Annotated[bool, Query(description=(
                     "false: leave the workers out, as a readiness probe of the API should: the API accepts work "
                     "while no worker runs (the queues keep it), and an API taken out of service because its "
                     "workers were restarting could not even answer `/tarefa/{task_id}`"))] = True,
                 ) -> dict[str, Any]:
    """Health of the broker, database, object store and workers, each with a reason when down.

    Without a credential (once auth is configured) only `{"ok": ...}`: the details name hosts and versions.
    """
    broker, database, inspection, object_store = await asyncio.gather(
        run_in_threadpool(check_broker, settings),
        run_in_threadpool(check_database, settings),
        worker_inspections().get() if workers else asyncio.sleep(0),
        check_object_store(settings),
    )
    checks = {"broker": broker, "database": database, "object_store": object_store}
    if workers:
        checks["workers"] = check_workers(inspection)
    healthy = all(check["ok"] for check in checks.values())
    if not healthy:
        response.status_code = 503
    if not shows_details(request.scope):
        return {"ok": healthy}
    models = await run_in_threadpool(_active_models)
    return {"ok": healthy, "environment": settings.environment, **checks, "models": models}


def _active_models() -> dict[str, Any]:
    """Each model kind's active version: when it was trained, its metrics, predictions served."""
    try:
        with session_scope() as session:
            active = session.scalars(select(ModelVersion).where(ModelVersion.active.is_(True))).all()
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"[:300]}
    return {m.kind: {"version": m.version, "trained_at": m.trained_at.isoformat(), "metrics": m.metrics,
                     "predictions_served": m.predictions_served} for m in active}


@router.get("/celery-status")
async def celery_status() -> dict[str, Any]:
    """Workers, the queues each consumes, registered tasks, and active and reserved counts.

    From one inspection shared by every caller for `CELERY_STATUS_CACHE_S` seconds (`cached_at`, `age_s`).
    """
    inspection = await worker_inspections().get()
    return {"ok": inspection.ok, "workers": inspection.workers, "cached_at": inspection.taken_at.isoformat(),
            "age_s": round(inspection.age_s(), 3), "duration_s": round(inspection.duration_s, 3),
            **({"reason": inspection.reason} if inspection.reason else {})}


@router.get("/metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    """Prometheus metrics: tasks by name and state, durations, queue depths, and this process's open streams."""
    body = await run_in_threadpool(generate_latest, _metrics_registry())
    feed = getattr(request.app.state, "transition_feed", None)
    if feed is not None:  # this process's, not the platform's: no collector of the shared registry
        body += (b"# HELP taskplatform_event_streams Open live-update streams (SSE) of this API process\n"
                 b"# TYPE taskplatform_event_streams gauge\n"
                 b"taskplatform_event_streams %d\n" % feed.subscribers)
    return Response(content=body, media_type=CONTENT_TYPE_LATEST)
