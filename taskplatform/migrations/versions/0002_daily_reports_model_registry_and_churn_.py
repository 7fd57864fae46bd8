"""daily reports, model registry and churn scores

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 00:59:13.668425

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from taskplatform.core.db import UTCDateTime

# revision identifiers, used by Alembic.
revision: str = '0002'
down_revision: str | Sequence[str] | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('daily_reports',
    sa.Column('data', sa.Date(), nullable=False),
    sa.Column('content', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('chart_key', sa.String(length=300), nullable=True),
    sa.Column('task_id', sa.String(length=64), nullable=True),
    sa.Column('generated_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('data', name=op.f('pk_daily_reports'))
    )
    op.create_table('model_versions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=50), nullable=False),
    sa.Column('version', sa.String(length=64), nullable=False),
    sa.Column('artifact_key', sa.String(length=300), nullable=False),
    sa.Column('metrics', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('params', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('data_hash', sa.String(length=64), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('decision', sa.Text(), nullable=True),
    sa.Column('predictions_served', sa.BigInteger(), nullable=False),
    sa.Column('task_id', sa.String(length=64), nullable=True),
    sa.Column('trained_at', UTCDateTime(), nullable=False),
    sa.Column('activated_at', UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_model_versions')),
    sa.UniqueConstraint('kind', 'version', name='uq_model_versions_kind_version')
    )
    with op.batch_alter_table('model_versions', schema=None) as batch_op:
        batch_op.create_index('uq_model_versions_active_kind', ['kind'], unique=True, postgresql_where=sa.text('active'), sqlite_where=sa.text('active'))

    op.create_table('churn_scores',
    sa.Column('aluno_id', sa.BigInteger(), nullable=False),
    sa.Column('probability', sa.Float(), nullable=False),
    sa.Column('reasons', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('model_version', sa.String(length=64), nullable=False),
    sa.Column('scored_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['aluno_id'], ['alunos.id'], name=op.f('fk_churn_scores_aluno_id_alunos'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('aluno_id', name=op.f('pk_churn_scores'))
    )
    with op.batch_alter_table('churn_scores', schema=None) as batch_op:
        batch_op.create_index('ix_churn_scores_probability', ['probability'], unique=False)



def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('churn_scores', schema=None) as batch_op:
        batch_op.drop_index('ix_churn_scores_probability')

    op.drop_table('churn_scores')
    with op.batch_alter_table('model_versions', schema=None) as batch_op:
        batch_op.drop_index('uq_model_versions_active_kind', postgresql_where=sa.text('active'), sqlite_where=sa.text('active'))

    op.drop_table('model_versions')
    op.drop_table('daily_reports')
