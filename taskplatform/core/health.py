"""Health checks of the servers the platform needs, each with a reason when down."""

from __future__ import annotations

from typing import Any

from kombu import Connection
from sqlalchemy import text

from storage.s3 import check_bucket
from taskplatform.core.db import session_scope
from taskplatform.core.object_store import s3_location
from taskplatform.core.settings import Settings, redact_url
from taskplatform.messaging.worker_status import Inspection


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


def check_database(settings: Settings) -> dict[str, Any]:
    result: dict[str, Any] = {"url": redact_url(settings.effective_database_url)}
    try:
        with session_scope() as session:
            session.execute(text("SELECT 1"))
            dialect = session.get_bind().dialect.name
        return {"ok": True, **result, "dialect": dialect}
    except Exception as exc:
        return {"ok": False, **result, "reason": _reason(exc)}


def check_broker(settings: Settings) -> dict[str, Any]:
    result: dict[str, Any] = {"url": redact_url(settings.broker_url), "kind": settings.broker_kind}
    try:
        with Connection(settings.broker_url, connect_timeout=3) as connection:
            connection.ensure_connection(max_retries=1, timeout=3)
        return {"ok": True, **result}
    except Exception as exc:
        return {"ok": False, **result, "reason": _reason(exc)}


def check_workers(inspection: Inspection) -> dict[str, Any]:
    """Workers that answered the latest inspection (shared with `/celery-status`), and how old it is."""
    workers = sorted(inspection.workers)
    return {"ok": inspection.ok, "workers": workers, "age_s": round(inspection.age_s(), 3),
            **({"reason": inspection.reason} if inspection.reason else {})}


async def check_object_store(settings: Settings) -> dict[str, Any]:
    result: dict[str, Any] = {"endpoint": settings.s3_endpoint_url, "bucket": settings.s3_bucket}
    if not settings.s3_endpoint_url:
        return {"ok": False, **result, "reason": "S3_ENDPOINT_URL is not set"}
    try:
        await check_bucket(s3_location(settings))
        return {"ok": True, **result}
    except Exception as exc:
        return {"ok": False, **result, "reason": _reason(exc)}
