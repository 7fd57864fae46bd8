"""Alembic environment: migrates the database named by the platform settings."""

from __future__ import annotations

from alembic import context

# Alembic's entry point sees every table: it is the one place besides the API and the tasks that imports
# each domain (tests/unit/test_layers.py).
import taskplatform.dead_letters.models
import taskplatform.devices.models
import taskplatform.gym.models
import taskplatform.ledger.models
import taskplatform.messaging.schedule_runs
import taskplatform.registry.models  # noqa: F401  (each registers its tables on Base.metadata)
from taskplatform.core.db import Base, make_engine
from taskplatform.core.settings import get_settings

target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(url=get_settings().effective_database_url, target_metadata=target_metadata,
                      literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = context.config.attributes.get("connection")
    if connectable is not None:
        context.configure(connection=connectable, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(get_settings().effective_database_url)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
