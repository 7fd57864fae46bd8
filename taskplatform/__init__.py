"""taskplatform: one Celery platform for all background work (`celery -A taskplatform`)."""

from __future__ import annotations

from typing import Any

__all__ = ("app",)


def __getattr__(name: str) -> Any:
    # The Celery app is created when first asked for (`celery -A taskplatform` reads `taskplatform.app`), not
    # whenever a submodule is imported: importing the ORM tables must not load Celery and read the settings.
    if name == "app":
        from taskplatform.messaging.celery_app import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
