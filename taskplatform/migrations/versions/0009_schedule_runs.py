"""schedule_runs: each fire of a beat entry, claimed once by (schedule, fire_time), with the skipped attempts

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 12:00:00

Beat (`taskplatform/messaging/beat_once.py`) inserts a row before it sends a due entry; a second beat firing the
same entry for the same fire time finds the row, sends nothing and is counted in `skipped`.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from taskplatform.core.db import UTCDateTime

# revision identifiers, used by Alembic.
revision: str = '0009'
down_revision: str | Sequence[str] | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        'schedule_runs',
        sa.Column('schedule', sa.String(length=200), nullable=False),
        sa.Column('fire_time', UTCDateTime(), nullable=False),
        sa.Column('task', sa.String(length=200), nullable=False),
        sa.Column('task_id', sa.String(length=64), nullable=False),
        sa.Column('fired_by', sa.String(length=255), nullable=False),
        sa.Column('claimed_at', UTCDateTime(), nullable=False),
        sa.Column('sent_at', UTCDateTime(), nullable=True),
        sa.Column('skipped', sa.Integer(), server_default='0', nullable=False),
        sa.Column('skipped_by', sa.String(length=255), nullable=True),
        sa.Column('skipped_at', UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint('schedule', 'fire_time', name=op.f('pk_schedule_runs')),
    )
    op.create_index('ix_schedule_runs_fire_time', 'schedule_runs', ['fire_time'])


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index('ix_schedule_runs_fire_time', table_name='schedule_runs')
    op.drop_table('schedule_runs')
