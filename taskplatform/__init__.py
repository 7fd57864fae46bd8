"""taskplatform: one Celery platform for all background work (`celery -A taskplatform`)."""

from taskplatform.celery_app import app

__all__ = ("app",)
