"""custom contact fields (definitions, and values in contacts.fields), segments

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 19:00:00.000000
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

IdType = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def _tenant() -> list[sa.Column]:
    return [
        sa.Column('account_id', IdType, nullable=False),
        sa.Column('env', sa.String(length=8), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        'contact_fields',
        sa.Column('id', IdType, autoincrement=True, nullable=False),
        *_tenant(),
        sa.Column('name', sa.String(length=255), nullable=False),
        sa.Column('key', sa.String(length=40), nullable=False),
        sa.Column('type', sa.String(length=16), nullable=False),
        sa.Column('options', sa.Text(), nullable=True),
        sa.Column('required', sa.Boolean(), server_default='0', nullable=False),
        sa.Column('default_value', sa.Text(), nullable=True),
        sa.Column('created_at', sa.String(length=32), nullable=False),
        sa.Column('updated_at', sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ['account_id'], ['accounts.id'],
            name=op.f('fk_contact_fields_account_id_accounts'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_contact_fields')),
        sqlite_autoincrement=True,
    )
    op.create_index(
        'uq_contact_fields_key', 'contact_fields', ['account_id', 'env', 'key'], unique=True
    )
    op.create_index('ix_contact_fields_name', 'contact_fields', ['account_id', 'env', 'name'])
    op.create_table(
        'segments',
        sa.Column('id', IdType, autoincrement=True, nullable=False),
        *_tenant(),
        sa.Column('name', sa.String(length=255), nullable=False),
        sa.Column('conditions', sa.Text(), nullable=False),
        sa.Column('created_at', sa.String(length=32), nullable=False),
        sa.Column('updated_at', sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ['account_id'], ['accounts.id'],
            name=op.f('fk_segments_account_id_accounts'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_segments')),
        sqlite_autoincrement=True,
    )
    op.create_index('ix_segments_name', 'segments', ['account_id', 'env', 'name'])
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('fields', sa.Text().with_variant(postgresql.JSONB(), 'postgresql'))
        )


def downgrade() -> None:
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_column('fields')
    op.drop_index('ix_segments_name', table_name='segments')
    op.drop_table('segments')
    op.drop_index('ix_contact_fields_name', table_name='contact_fields')
    op.drop_index('uq_contact_fields_key', table_name='contact_fields')
    op.drop_table('contact_fields')
