"""dead letters and device status

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 01:15:09.049223

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from taskplatform.core.db import UTCDateTime

# revision identifiers, used by Alembic.
revision: str = '0003'
down_revision: str | Sequence[str] | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('dead_letters',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('queue', sa.String(length=200), nullable=False),
    sa.Column('task_name', sa.String(length=200), nullable=True),
    sa.Column('reason', sa.String(length=100), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('headers', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('replayed_at', UTCDateTime(), nullable=True),
    sa.Column('replay_task_id', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dead_letters'))
    )
    with op.batch_alter_table('dead_letters', schema=None) as batch_op:
        batch_op.create_index('ix_dead_letters_created_at', ['created_at'], unique=False)
        batch_op.create_index('ix_dead_letters_queue_created_at', ['queue', 'created_at'], unique=False)

    op.create_table('device_messages',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('raspberry_id', sa.String(length=200), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('received_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_device_messages'))
    )
    op.create_table('device_status',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('raspberry_id', sa.String(length=200), nullable=False),
    sa.Column('wifi_status', sa.String(length=100), nullable=True),
    sa.Column('mem_usage', sa.String(length=100), nullable=True),
    sa.Column('cpu_temp', sa.String(length=100), nullable=True),
    sa.Column('led_internal_status', sa.Boolean(), nullable=False),
    sa.Column('led_external_status', sa.Boolean(), nullable=False),
    sa.Column('cpu_percent', sa.Float(), nullable=True),
    sa.Column('gpio_used_count', sa.Integer(), nullable=True),
    sa.Column('spi_buses', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('i2c_buses', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('usb_devices_count', sa.Integer(), nullable=True),
    sa.Column('net_bytes_sent', sa.BigInteger(), nullable=True),
    sa.Column('net_bytes_recv', sa.BigInteger(), nullable=True),
    sa.Column('net_ifaces', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('extra', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('first_seen', UTCDateTime(), nullable=False),
    sa.Column('last_update', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_device_status')),
    sa.UniqueConstraint('raspberry_id', name=op.f('uq_device_status_raspberry_id'))
    )
    with op.batch_alter_table('device_status', schema=None) as batch_op:
        batch_op.create_index('ix_device_status_last_update', ['last_update'], unique=False)



def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('device_status', schema=None) as batch_op:
        batch_op.drop_index('ix_device_status_last_update')

    op.drop_table('device_status')
    op.drop_table('device_messages')
    with op.batch_alter_table('dead_letters', schema=None) as batch_op:
        batch_op.drop_index('ix_dead_letters_queue_created_at')
        batch_op.drop_index('ix_dead_letters_created_at')

    op.drop_table('dead_letters')
