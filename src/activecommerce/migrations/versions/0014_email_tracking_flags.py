"""email tracking flags, captured mail's raw message

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 23:45:00.000000

Campaigns and automations may turn off the open pixel (`track_opens`) and the click
redirect (`track_clicks`); both are on by default, as every message was tracked before.
Captured mail keeps the message as it would have gone on the wire (`raw`); mail captured
before has none.
"""

from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

TABLES = ('email_campaigns', 'email_automations')


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column('track_opens', sa.Boolean(), server_default='1', nullable=False)
            )
            batch_op.add_column(
                sa.Column('track_clicks', sa.Boolean(), server_default='1', nullable=False)
            )
    with op.batch_alter_table('captured_emails', schema=None) as batch_op:
        batch_op.add_column(sa.Column('raw', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('captured_emails', schema=None) as batch_op:
        batch_op.drop_column('raw')
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('track_clicks')
            batch_op.drop_column('track_opens')
