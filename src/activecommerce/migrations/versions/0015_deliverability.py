"""deliverability: sending domains, delivery reports, the account's postal address

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08 01:10:00.000000

`sending_domains` holds each domain an account sends from with its DKIM key pair
(the private key encrypted) and the last check of its DNS records. `email_reports` keeps
every delivery report believed (DSNs, complaints, providers' webhooks, the simulator),
one per message and kind. Messages learn what a report made of them (`bounce_kind`,
`delivered_at`, `complained_at`); accounts get a default postal address for marketing
email whose brand has none.
"""

from alembic import op
import sqlalchemy as sa


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

IdType = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'sending_domains',
        sa.Column('id', IdType, autoincrement=True, nullable=False),
        sa.Column('account_id', IdType, nullable=False),
        sa.Column('env', sa.String(length=8), nullable=False),
        sa.Column('domain', sa.String(length=253), nullable=False),
        sa.Column('selector', sa.String(length=63), nullable=False),
        sa.Column('private_key', sa.Text(), nullable=False),
        sa.Column('public_key', sa.Text(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('records', sa.Text(), nullable=True),
        sa.Column('verified_at', sa.String(length=32), nullable=True),
        sa.Column('checked_at', sa.String(length=32), nullable=True),
        sa.Column('created_at', sa.String(length=32), nullable=False),
        sa.Column('updated_at', sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sqlite_autoincrement=True,
    )
    op.create_index(
        'uq_sending_domains_domain', 'sending_domains', ['account_id', 'env', 'domain'], unique=True
    )
    op.create_table(
        'email_reports',
        sa.Column('id', IdType, autoincrement=True, nullable=False),
        sa.Column('account_id', IdType, nullable=False),
        sa.Column('env', sa.String(length=8), nullable=False),
        sa.Column('message_id', IdType, nullable=False),
        sa.Column('contact_id', IdType, nullable=True),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('status_code', sa.String(length=16), nullable=True),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('created_at', sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sqlite_autoincrement=True,
    )
    op.create_index(
        'uq_email_reports_message_kind', 'email_reports', ['message_id', 'kind'], unique=True
    )
    op.create_index(
        'ix_email_reports_contact',
        'email_reports',
        ['account_id', 'env', 'contact_id', 'kind', 'created_at'],
        unique=False,
    )
    with op.batch_alter_table('email_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('bounce_kind', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('delivered_at', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('complained_at', sa.String(length=32), nullable=True))
    # Bounces before this revision were all hard ones (5.1.x).
    op.execute("UPDATE email_messages SET bounce_kind = 'hard' WHERE bounced_at IS NOT NULL")
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('postal_address', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_column('postal_address')
    with op.batch_alter_table('email_messages', schema=None) as batch_op:
        batch_op.drop_column('complained_at')
        batch_op.drop_column('delivered_at')
        batch_op.drop_column('bounce_kind')
    op.drop_index('ix_email_reports_contact', table_name='email_reports')
    op.drop_index('uq_email_reports_message_kind', table_name='email_reports')
    op.drop_table('email_reports')
    op.drop_index('uq_sending_domains_domain', table_name='sending_domains')
    op.drop_table('sending_domains')
