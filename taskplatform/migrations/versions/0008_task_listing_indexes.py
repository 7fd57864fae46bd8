"""task records: one composite index per listing filter, ending in (created_at, id), the listing's order

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 10:00:00

`/tarefas` lists newest first by (created_at, id) and pages by that key. With the id in the index, a page of any
filter (state, name, queue, or none) is one index range read, and a keyset page never sorts. The three indexes
that ended in created_at alone are replaced, not kept beside the new ones: every index costs each write. On
PostgreSQL the indexes are built CONCURRENTLY (outside the migration's transaction), so a ledger of millions of
records keeps taking writes while they build.
"""
from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0008'
down_revision: str | Sequence[str] | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW = {
    'ix_task_records_created_at_id': ['created_at', 'id'],
    'ix_task_records_state_created_at_id': ['state', 'created_at', 'id'],
    'ix_task_records_name_created_at_id': ['name', 'created_at', 'id'],
    'ix_task_records_queue_created_at_id': ['queue', 'created_at', 'id'],
}
OLD = {
    'ix_task_records_created_at': ['created_at'],
    'ix_task_records_state_created_at': ['state', 'created_at'],
    'ix_task_records_name_created_at': ['name', 'created_at'],
}


def _swap(create: dict[str, list[str]], drop: dict[str, list[str]]) -> None:
    concurrently = op.get_context().dialect.name == 'postgresql'
    with op.get_context().autocommit_block():
        for name, columns in create.items():
            op.create_index(name, 'task_records', columns, postgresql_concurrently=concurrently,
                            if_not_exists=True)
        for name in drop:
            op.drop_index(name, table_name='task_records', postgresql_concurrently=concurrently, if_exists=True)


def upgrade() -> None:
    """Upgrade schema."""
    _swap(NEW, OLD)


def downgrade() -> None:
    """Downgrade schema."""
    _swap(OLD, NEW)
