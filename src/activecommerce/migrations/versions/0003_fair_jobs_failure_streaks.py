"""fair job lanes, chain heads, failure streaks, delivery outcomes, event pruning

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 10:00:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

IdType = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('account_id', IdType, nullable=True))
        batch_op.add_column(sa.Column('lane', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('order_key', sa.String(length=160), nullable=True))
        batch_op.add_column(sa.Column('event_id', IdType, nullable=True))
        batch_op.create_index('ix_jobs_order_key', ['order_key', 'id'], unique=False)
        batch_op.create_index('ix_jobs_event_id', ['event_id'], unique=False)

    with op.batch_alter_table('webhooks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('failing_since', sa.String(length=32), nullable=True))

    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('outcome', sa.String(length=16), nullable=True))
    op.execute(
        "UPDATE webhook_deliveries SET outcome = CASE WHEN status_code >= 200"
        " AND status_code < 300 THEN 'delivered' ELSE 'failed' END"
    )

    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_created_at', ['created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_created_at')
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.drop_column('outcome')
    with op.batch_alter_table('webhooks', schema=None) as batch_op:
        batch_op.drop_column('failing_since')
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_jobs_event_id')
        batch_op.drop_index('ix_jobs_order_key')
        batch_op.drop_column('event_id')
        batch_op.drop_column('order_key')
        batch_op.drop_column('lane')
        batch_op.drop_column('account_id')
