"""email sending: one durable record per recipient, captured mail, campaign audiences

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 21:00:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

IdType = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def _ref(name, table, ondelete, nullable=True):
    return sa.Column(
        name,
        IdType,
        sa.ForeignKey(f'{table}.id', name=f'fk_email_messages_{name}_{table}', ondelete=ondelete),
        nullable=nullable,
    )


def upgrade() -> None:
    op.create_table(
        'email_messages',
        sa.Column('id', IdType, primary_key=True, autoincrement=True),
        sa.Column(
            'account_id',
            IdType,
            sa.ForeignKey('accounts.id', name='fk_email_messages_account_id_accounts', ondelete='CASCADE'),
            nullable=False,
        ),
        sa.Column('env', sa.String(length=8), nullable=False),
        _ref('campaign_id', 'email_campaigns', 'CASCADE'),
        _ref('automation_id', 'email_automations', 'CASCADE'),
        _ref('contact_id', 'contacts', 'SET NULL'),
        sa.Column('is_test', sa.Boolean(), server_default='0', nullable=False),
        sa.Column('to_email', sa.String(length=254), nullable=True),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
        sa.Column('due_at', sa.String(length=32), nullable=False),
        sa.Column('sent_at', sa.String(length=32), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('bounced_at', sa.String(length=32), nullable=True),
        sa.Column('unsubscribed_at', sa.String(length=32), nullable=True),
        sa.Column('opened_at', sa.String(length=32), nullable=True),
        sa.Column('open_count', sa.Integer(), server_default='0', nullable=False),
        sa.Column('clicked_at', sa.String(length=32), nullable=True),
        sa.Column('click_count', sa.Integer(), server_default='0', nullable=False),
        sa.Column('created_at', sa.String(length=32), nullable=False),
        sa.Column('updated_at', sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint('id', name='pk_email_messages'),
        sqlite_autoincrement=True,
    )
    not_test = sa.text('NOT is_test')
    op.create_index(
        'uq_email_messages_campaign_contact',
        'email_messages',
        ['campaign_id', 'contact_id'],
        unique=True,
        sqlite_where=not_test,
        postgresql_where=not_test,
    )
    op.create_index(
        'uq_email_messages_automation_contact',
        'email_messages',
        ['automation_id', 'contact_id'],
        unique=True,
    )
    op.create_index(
        'ix_email_messages_campaign_status', 'email_messages', ['campaign_id', 'status']
    )
    op.create_index(
        'ix_email_messages_automation_status', 'email_messages', ['automation_id', 'status']
    )
    op.create_index('ix_email_messages_contact', 'email_messages', ['contact_id'])

    op.create_table(
        'captured_emails',
        sa.Column('id', IdType, primary_key=True, autoincrement=True),
        sa.Column(
            'account_id',
            IdType,
            sa.ForeignKey('accounts.id', name='fk_captured_emails_account_id_accounts', ondelete='CASCADE'),
            nullable=False,
        ),
        sa.Column('env', sa.String(length=8), nullable=False),
        sa.Column('message_id', IdType, nullable=True),
        sa.Column('campaign_id', IdType, nullable=True),
        sa.Column('automation_id', IdType, nullable=True),
        sa.Column('contact_id', IdType, nullable=True),
        sa.Column('to_email', sa.String(length=254), nullable=False),
        sa.Column('from_header', sa.Text(), nullable=False),
        sa.Column('subject', sa.Text(), nullable=False),
        sa.Column('html', sa.Text(), nullable=True),
        sa.Column('text', sa.Text(), nullable=True),
        sa.Column('headers', sa.Text(), nullable=False),
        sa.Column('created_at', sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint('id', name='pk_captured_emails'),
        sqlite_autoincrement=True,
    )
    op.create_index(
        'ix_captured_emails_account_env', 'captured_emails', ['account_id', 'env', 'id']
    )
    op.create_index('ix_captured_emails_created_at', 'captured_emails', ['created_at'])

    op.create_index(
        'ix_email_automations_account_env',
        'email_automations',
        ['account_id', 'env', 'status'],
    )

    with op.batch_alter_table('email_campaigns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('audience', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('resolved_at', sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('email_campaigns', schema=None) as batch_op:
        batch_op.drop_column('resolved_at')
        batch_op.drop_column('audience')
    op.drop_index('ix_email_automations_account_env', table_name='email_automations')
    op.drop_table('captured_emails')
    op.drop_table('email_messages')
