"""Session scopes on a test's engine, for code that opens its own (`taskplatform.core.db.session_scope`)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker


def scope_on(engine: Engine) -> Callable[[], AbstractContextManager[Session]]:
    """A `session_scope` that commits on success into `engine` (objects stay readable after it, as in the app)."""
    return sessionmaker(engine, expire_on_commit=False).begin
