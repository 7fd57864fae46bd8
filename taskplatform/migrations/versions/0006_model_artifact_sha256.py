"""model versions keep the sha256 of their artifact (checked before loading) and of their JSON form

Revision ID: 0006
Revises: 0004
Create Date: 2026-11-30 14:20:00

Versions trained before this migration have no hash: MODELS_REQUIRE_SHA256 decides whether they
still load (with a warning) or are refused.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0006'
# The integrator sets this to '0005' when merging (another branch adds 0005 in parallel).
down_revision: str | Sequence[str] | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('model_versions') as batch:
        batch.add_column(sa.Column('artifact_sha256', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('json_sha256', sa.String(length=64), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('model_versions') as batch:
        batch.drop_column('json_sha256')
        batch.drop_column('artifact_sha256')
