"""task records keep who cancelled them and when, the task they re-run, and their arguments (for re-runs)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 18:00:00

Tasks enqueued before this migration have no `arguments`: they cannot be re-run (the API answers 409).
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from taskplatform.core.db import UTCDateTime

# revision identifiers, used by Alembic.
revision: str = '0007'
down_revision: str | Sequence[str] | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('task_records') as batch:
        batch.add_column(sa.Column('canceled_at', UTCDateTime(), nullable=True))
        batch.add_column(sa.Column('canceled_by', sa.String(length=200), nullable=True))
        batch.add_column(sa.Column('rerun_of', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('arguments', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()),
                                                                       'postgresql'), nullable=True))
        batch.create_index('ix_task_records_rerun_of', ['rerun_of'])


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('task_records') as batch:
        batch.drop_index('ix_task_records_rerun_of')
        batch.drop_column('arguments')
        batch.drop_column('rerun_of')
        batch.drop_column('canceled_by')
        batch.drop_column('canceled_at')
