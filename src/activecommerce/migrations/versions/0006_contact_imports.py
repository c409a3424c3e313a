"""contact imports: the import and its staged rows

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 10:00:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

IdType = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'contact_imports',
        sa.Column('id', IdType, primary_key=True, autoincrement=True),
        sa.Column(
            'account_id',
            IdType,
            sa.ForeignKey(
                'accounts.id', name='fk_contact_imports_account_id_accounts', ondelete='CASCADE'
            ),
            nullable=False,
        ),
        sa.Column('env', sa.String(length=8), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('format', sa.String(length=8), nullable=False),
        sa.Column('update_existing', sa.Boolean(), nullable=False),
        sa.Column('total', sa.BigInteger(), nullable=False),
        sa.Column('processed', sa.BigInteger(), nullable=False),
        sa.Column('created', sa.BigInteger(), nullable=False),
        sa.Column('updated', sa.BigInteger(), nullable=False),
        sa.Column('skipped', sa.BigInteger(), nullable=False),
        sa.Column('failed', sa.BigInteger(), nullable=False),
        sa.Column('position', sa.BigInteger(), nullable=False),
        sa.Column('errors', sa.Text(), nullable=False),
        sa.Column('created_at', sa.String(length=32), nullable=False),
        sa.Column('updated_at', sa.String(length=32), nullable=False),
        sa.Column('finished_at', sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint('id', name='pk_contact_imports'),
        sqlite_autoincrement=True,
    )
    op.create_index(
        'ix_contact_imports_account_env', 'contact_imports', ['account_id', 'env', 'id']
    )
    op.create_index('ix_contact_imports_status', 'contact_imports', ['status', 'updated_at'])

    op.create_table(
        'contact_import_rows',
        sa.Column('import_id', IdType, nullable=False),
        sa.Column('line', sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column('data', sa.Text(), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('import_id', 'line', name='pk_contact_import_rows'),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table('contact_import_rows')
    op.drop_index('ix_contact_imports_status', table_name='contact_imports')
    op.drop_index('ix_contact_imports_account_env', table_name='contact_imports')
    op.drop_table('contact_imports')
