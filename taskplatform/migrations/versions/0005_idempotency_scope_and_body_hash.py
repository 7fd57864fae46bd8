"""idempotency keys are scoped per credential and remember a hash of their request

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 14:20:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0005'
down_revision: str | Sequence[str] | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('task_records') as batch:
        batch.add_column(sa.Column('idempotency_scope', sa.String(length=200), nullable=True))
        batch.add_column(sa.Column('request_hash', sa.String(length=64), nullable=True))
        batch.drop_constraint('uq_task_records_name_idempotency_key', type_='unique')
        batch.create_unique_constraint('uq_task_records_name_idempotency_scope_key',
                                       ['name', 'idempotency_scope', 'idempotency_key'])
    # Keys used before scopes existed were global per task name: they stay with anonymous callers
    # (a NULL scope would never clash, since SQL unique constraints treat NULLs as distinct).
    op.execute("UPDATE task_records SET idempotency_scope = 'anonymous' WHERE idempotency_key IS NOT NULL")


def downgrade() -> None:
    """Downgrade schema."""
    # Two callers may have used one key for one task name; only the oldest keeps it.
    op.execute("UPDATE task_records SET idempotency_key = NULL WHERE idempotency_key IS NOT NULL AND id NOT IN ("
               " SELECT id FROM (SELECT id, row_number() OVER (PARTITION BY name, idempotency_key"
               " ORDER BY created_at, id) AS n FROM task_records WHERE idempotency_key IS NOT NULL) AS ranked"
               " WHERE n = 1)")
    with op.batch_alter_table('task_records') as batch:
        batch.drop_constraint('uq_task_records_name_idempotency_scope_key', type_='unique')
        batch.create_unique_constraint('uq_task_records_name_idempotency_key', ['name', 'idempotency_key'])
        batch.drop_column('request_hash')
        batch.drop_column('idempotency_scope')
