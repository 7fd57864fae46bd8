"""task records keep a copy of their message until a worker starts them (Redis redelivery)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 04:55:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from taskplatform.core.db import UTCDateTime

# revision identifiers, used by Alembic.
revision: str = '0004'
down_revision: str | Sequence[str] | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('task_records') as batch:
        batch.add_column(sa.Column('message', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()),
                                                                     'postgresql'), nullable=True))
        batch.add_column(sa.Column('redelivered_at', UTCDateTime(), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('task_records') as batch:
        batch.drop_column('redelivered_at')
        batch.drop_column('message')
