"""Platform endpoints: `/`, `/status`, `/celery-status` and `/metrics`."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from sqlalchemy import select

from api.deps import SettingsDep
from taskplatform.celery_app import app as celery_app
from taskplatform.db import new_session
from taskplatform.health import check_broker, check_database, check_object_store, check_workers
from taskplatform.metrics import PlatformCollector
from taskplatform.models import ModelVersion
from taskplatform.queues import TASK_QUEUES
from taskplatform.settings import get_settings

router = APIRouter(tags=["platform"])

_registry = CollectorRegistry()
_registry.register(PlatformCollector(get_settings()))


@router.get("/")
def root() -> dict[str, Any]:
    """What this service is, and where to look next."""
    return {
        "name": "taskplatform",
        "description": "Background work of the gym, housing-price, text-generation, UX-session and "
                       "Raspberry Pi systems, as Celery tasks tracked in a SQL ledger.",
        "docs": "/docs",
        "redoc": "/redoc",
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
async def status(settings: SettingsDep, response: Response) -> dict[str, Any]:
    """Health of the broker, database, object store and workers, each with a reason when down."""
    broker, database, workers, object_store = await asyncio.gather(
        run_in_threadpool(check_broker, settings),
        run_in_threadpool(check_database, settings),
        run_in_threadpool(check_workers, celery_app),
        check_object_store(settings),
    )
    checks = {"broker": broker, "database": database, "object_store": object_store, "workers": workers}
    healthy = all(check["ok"] for check in checks.values())
    if not healthy:
        response.status_code = 503
    models = await run_in_threadpool(_active_models)
    return {"ok": healthy, "environment": settings.environment, **checks, "models": models}


def _active_models() -> dict[str, Any]:
    """Each model kind's active version: when it was trained, its metrics, predictions served."""
    try:
        with new_session() as session:
            active = session.scalars(select(ModelVersion).where(ModelVersion.active.is_(True))).all()
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"[:300]}
    return {m.kind: {"version": m.version, "trained_at": m.trained_at.isoformat(), "metrics": m.metrics,
                     "predictions_served": m.predictions_served} for m in active}


def _celery_status() -> dict[str, Any]:
    inspect = celery_app.control.inspect(timeout=1.5)
    stats = inspect.stats() or {}
    queues = inspect.active_queues() or {}
    registered = inspect.registered() or {}
    active = inspect.active() or {}
    reserved = inspect.reserved() or {}
    workers = {
        name: {
            "queues": sorted(q["name"] for q in queues.get(name, [])),
            "registered_tasks": sorted(registered.get(name, [])),
            "active": len(active.get(name, [])),
            "reserved": len(reserved.get(name, [])),
            "concurrency": (stats.get(name, {}).get("pool") or {}).get("max-concurrency"),
            "pid": stats.get(name, {}).get("pid"),
        }
        for name in sorted(set(stats) | set(queues))
    }
    return {"ok": bool(workers), "workers": workers}


@router.get("/celery-status")
async def celery_status() -> dict[str, Any]:
    """Workers, the queues each consumes, registered tasks, and active and reserved counts."""
    return await run_in_threadpool(_celery_status)


@router.get("/metrics", response_class=Response)
async def metrics() -> Response:
    """Prometheus metrics: tasks by name and state, durations, queue depths."""
    body = await run_in_threadpool(generate_latest, _registry)
    return Response(content=body, media_type=CONTENT_TYPE_LATEST)
