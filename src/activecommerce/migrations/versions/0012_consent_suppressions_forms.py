"""consent: the suppression list, consent records, signup forms and their submissions,
public groups

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 22:30:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

IdType = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def _tenant() -> list:
    return [
        sa.Column('account_id', IdType, nullable=False),
        sa.Column('env', sa.String(length=8), nullable=False),
    ]


def _account_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ['account_id'], ['accounts.id'],
        name=op.f(f'fk_{table}_account_id_accounts'), ondelete='CASCADE',
    )


def _stamps() -> list:
    return [
        sa.Column('created_at', sa.String(length=32), nullable=False),
        sa.Column('updated_at', sa.String(length=32), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        'suppressions',
        sa.Column('id', IdType, autoincrement=True, nullable=False),
        *_tenant(),
        sa.Column('email', sa.String(length=254), nullable=True),
        sa.Column('email_hash', sa.String(length=64), nullable=False),
        sa.Column('reason', sa.String(length=16), nullable=False),
        sa.Column('source', sa.String(length=16), nullable=False),
        *_stamps(),
        _account_fk('suppressions'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_suppressions')),
        sqlite_autoincrement=True,
    )
    op.create_index(
        'uq_suppressions_email_hash', 'suppressions', ['account_id', 'env', 'email_hash'],
        unique=True,
    )
    op.create_index(
        'ix_suppressions_created', 'suppressions', ['account_id', 'env', 'created_at']
    )
    op.create_table(
        'forms',
        sa.Column('id', IdType, autoincrement=True, nullable=False),
        *_tenant(),
        sa.Column('public_id', sa.String(length=32), nullable=False),
        sa.Column('name', sa.String(length=255), nullable=False),
        sa.Column('fields', sa.Text(), nullable=False),
        sa.Column('group_ids', sa.Text(), nullable=False),
        sa.Column('tag_ids', sa.Text(), nullable=False),
        sa.Column('double_opt_in', sa.Boolean(), server_default='1', nullable=False),
        sa.Column('confirmation_email', sa.Text(), nullable=True),
        sa.Column('success_message', sa.Text(), nullable=True),
        sa.Column('redirect_url', sa.Text(), nullable=True),
        *_stamps(),
        _account_fk('forms'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_forms')),
        sqlite_autoincrement=True,
    )
    op.create_index('uq_forms_public_id', 'forms', ['public_id'], unique=True)
    op.create_index('ix_forms_name', 'forms', ['account_id', 'env', 'name'])
    op.create_table(
        'form_submissions',
        sa.Column('id', IdType, autoincrement=True, nullable=False),
        *_tenant(),
        sa.Column('form_id', IdType, nullable=False),
        sa.Column('contact_id', IdType, nullable=True),
        sa.Column('email', sa.String(length=254), nullable=True),
        sa.Column('data', sa.Text(), nullable=False),
        sa.Column('ip', sa.String(length=64), nullable=True),
        sa.Column('user_agent', sa.String(length=512), nullable=True),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('confirmed_at', sa.String(length=32), nullable=True),
        *_stamps(),
        _account_fk('form_submissions'),
        sa.ForeignKeyConstraint(
            ['form_id'], ['forms.id'],
            name=op.f('fk_form_submissions_form_id_forms'), ondelete='CASCADE',
        ),
        sa.ForeignKeyConstraint(
            ['contact_id'], ['contacts.id'],
            name=op.f('fk_form_submissions_contact_id_contacts'), ondelete='SET NULL',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_form_submissions')),
        sqlite_autoincrement=True,
    )
    op.create_index('ix_form_submissions_form', 'form_submissions', ['form_id', 'id'])
    op.create_index('ix_form_submissions_contact', 'form_submissions', ['contact_id'])
    op.create_table(
        'consents',
        sa.Column('id', IdType, autoincrement=True, nullable=False),
        *_tenant(),
        sa.Column('contact_id', IdType, nullable=False),
        sa.Column('action', sa.String(length=16), nullable=False),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('form_id', IdType, nullable=True),
        sa.Column('ip', sa.String(length=64), nullable=True),
        sa.Column('user_agent', sa.String(length=512), nullable=True),
        sa.Column('created_at', sa.String(length=32), nullable=False),
        _account_fk('consents'),
        sa.ForeignKeyConstraint(
            ['contact_id'], ['contacts.id'],
            name=op.f('fk_consents_contact_id_contacts'), ondelete='CASCADE',
        ),
        sa.ForeignKeyConstraint(
            ['form_id'], ['forms.id'],
            name=op.f('fk_consents_form_id_forms'), ondelete='SET NULL',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_consents')),
        sqlite_autoincrement=True,
    )
    op.create_index('ix_consents_contact', 'consents', ['contact_id', 'id'])
    with op.batch_alter_table('contact_groups', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('public', sa.Boolean(), server_default='0', nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table('contact_groups', schema=None) as batch_op:
        batch_op.drop_column('public')
    op.drop_index('ix_consents_contact', table_name='consents')
    op.drop_table('consents')
    op.drop_index('ix_form_submissions_contact', table_name='form_submissions')
    op.drop_index('ix_form_submissions_form', table_name='form_submissions')
    op.drop_table('form_submissions')
    op.drop_index('ix_forms_name', table_name='forms')
    op.drop_index('uq_forms_public_id', table_name='forms')
    op.drop_table('forms')
    op.drop_index('ix_suppressions_created', table_name='suppressions')
    op.drop_index('uq_suppressions_email_hash', table_name='suppressions')
    op.drop_table('suppressions')
