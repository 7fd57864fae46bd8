"""task ledger, students and check-ins

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-22 00:31:45.749486

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from taskplatform.core.db import UTCDateTime

# revision identifiers, used by Alembic.
revision: str = '0001'
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('alunos',
    sa.Column('id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('nome', sa.String(length=200), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alunos'))
    )
    op.create_table('task_records',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('queue', sa.String(length=100), nullable=True),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('progress', sa.Integer(), nullable=True),
    sa.Column('progress_message', sa.Text(), nullable=True),
    sa.Column('params', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('result', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('error_type', sa.String(length=200), nullable=True),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.Column('traceback', sa.Text(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=200), nullable=True),
    sa.Column('runtime_s', sa.Float(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('started_at', UTCDateTime(), nullable=True),
    sa.Column('finished_at', UTCDateTime(), nullable=True),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_task_records')),
    sa.UniqueConstraint('name', 'idempotency_key', name='uq_task_records_name_idempotency_key')
    )
    with op.batch_alter_table('task_records', schema=None) as batch_op:
        batch_op.create_index('ix_task_records_created_at', ['created_at'], unique=False)
        batch_op.create_index('ix_task_records_name_created_at', ['name', 'created_at'], unique=False)
        batch_op.create_index('ix_task_records_state_created_at', ['state', 'created_at'], unique=False)

    op.create_table('checkins',
    sa.Column('aluno_id', sa.BigInteger(), nullable=False),
    sa.Column('data_hora', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['aluno_id'], ['alunos.id'], name=op.f('fk_checkins_aluno_id_alunos')),
    sa.PrimaryKeyConstraint('aluno_id', 'data_hora', name=op.f('pk_checkins'))
    )
    with op.batch_alter_table('checkins', schema=None) as batch_op:
        batch_op.create_index('ix_checkins_data_hora', ['data_hora'], unique=False)

    op.create_table('task_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('task_id', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('at', UTCDateTime(), nullable=False),
    sa.Column('detail', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.ForeignKeyConstraint(['task_id'], ['task_records.id'], name=op.f('fk_task_events_task_id_task_records'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_task_events'))
    )
    with op.batch_alter_table('task_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_task_events_task_id'), ['task_id'], unique=False)



def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('task_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_task_events_task_id'))

    op.drop_table('task_events')
    with op.batch_alter_table('checkins', schema=None) as batch_op:
        batch_op.drop_index('ix_checkins_data_hora')

    op.drop_table('checkins')
    with op.batch_alter_table('task_records', schema=None) as batch_op:
        batch_op.drop_index('ix_task_records_state_created_at')
        batch_op.drop_index('ix_task_records_name_created_at')
        batch_op.drop_index('ix_task_records_created_at')

    op.drop_table('task_records')
    op.drop_table('alunos')
