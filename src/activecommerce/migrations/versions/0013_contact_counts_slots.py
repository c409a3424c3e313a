"""contact counts in slots: concurrent writers of one account no longer queue on one row

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 23:00:00.000000

Each maintained count (contact_counts: 'all', 'status:<s>', 'group:<id>', 'tag:<id>') was
one row per account and key, so every transaction that added a contact to an account
held that account's 'all' row until it committed (WAL flush included): on PostgreSQL,
signup-form submissions to one account queued there (Lock:transactionid on the INSERT,
about 180/s whatever the number of clients). A count is now the sum of up to 32 rows,
one per slot; PostgreSQL's trigger writes the slot of its connection (backend pid mod
32), so writers on different connections rarely meet. SQLite has one writer at a time and
keeps slot 0. Readers sum the slots.
"""

from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

SLOTS = 32

PG_APPLY = """CREATE OR REPLACE FUNCTION contact_counts_apply(deltas jsonb) RETURNS void
LANGUAGE sql AS $$
  INSERT INTO contact_counts (account_id, env, key, slot, n)
  SELECT (d->>'a')::bigint, d->>'e', d->>'k', (pg_backend_pid() % {slots})::smallint,
    sum((d->>'n')::bigint)
  FROM jsonb_array_elements(deltas) AS d
  GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
  ON CONFLICT (account_id, env, key, slot) DO UPDATE SET n = contact_counts.n + EXCLUDED.n
$$"""

PG_APPLY_BEFORE = """CREATE OR REPLACE FUNCTION contact_counts_apply(deltas jsonb) RETURNS void
LANGUAGE sql AS $$
  INSERT INTO contact_counts (account_id, env, key, n)
  SELECT (d->>'a')::bigint, d->>'e', d->>'k', sum((d->>'n')::bigint)
  FROM jsonb_array_elements(deltas) AS d
  GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
  ON CONFLICT (account_id, env, key) DO UPDATE SET n = contact_counts.n + EXCLUDED.n
$$"""


def _sqlite_triggers(target: str) -> list[str]:
    """The SQLite triggers that keep the counts (migration 0005's), with `target` as the
    conflict target of their upserts. All are made again: SQLite checks every trigger
    that names the table when the batch renames its new copy."""
    statements = [
        """CREATE TRIGGER contact_counts_delete AFTER DELETE ON contacts BEGIN
  UPDATE contact_counts SET n = n - 1 WHERE account_id = OLD.account_id AND env = OLD.env
    AND key IN ('all', 'status:' || OLD.status);
  INSERT INTO contacts_fts (contacts_fts, rowid, email, first_name, last_name)
  VALUES ('delete', OLD.id, OLD.email, OLD.first_name, OLD.last_name);
END""",
        f"""CREATE TRIGGER contact_counts_insert AFTER INSERT ON contacts BEGIN
  INSERT INTO contact_counts (account_id, env, key, n)
  VALUES (NEW.account_id, NEW.env, 'all', 1), (NEW.account_id, NEW.env, 'status:' || NEW.status, 1)
  ON CONFLICT ({target}) DO UPDATE SET n = n + 1;
  INSERT INTO contacts_fts (rowid, email, first_name, last_name)
  VALUES (NEW.id, NEW.email, NEW.first_name, NEW.last_name);
END""",
        f"""CREATE TRIGGER contact_counts_status AFTER UPDATE OF status ON contacts
WHEN OLD.status IS NOT NEW.status BEGIN
  UPDATE contact_counts SET n = n - 1 WHERE account_id = OLD.account_id AND env = OLD.env
    AND key = 'status:' || OLD.status;
  INSERT INTO contact_counts (account_id, env, key, n)
  VALUES (NEW.account_id, NEW.env, 'status:' || NEW.status, 1)
  ON CONFLICT ({target}) DO UPDATE SET n = n + 1;
END""",
    ]
    for table, column, prefix in (
        ('contact_group_members', 'group_id', 'group'),
        ('contact_tag_members', 'tag_id', 'tag'),
    ):
        statements += [
            f"""CREATE TRIGGER {table}_count_insert AFTER INSERT ON {table} BEGIN
  INSERT INTO contact_counts (account_id, env, key, n)
  VALUES (NEW.account_id, NEW.env, '{prefix}:' || NEW.{column}, 1)
  ON CONFLICT ({target}) DO UPDATE SET n = n + 1;
END""",
            f"""CREATE TRIGGER {table}_count_delete AFTER DELETE ON {table} BEGIN
  UPDATE contact_counts SET n = n - 1 WHERE account_id = OLD.account_id AND env = OLD.env
    AND key = '{prefix}:' || OLD.{column};
END""",
        ]
    return statements


SQLITE_COUNTING = (
    'contact_counts_insert',
    'contact_counts_delete',
    'contact_counts_status',
    'contact_group_members_count_insert',
    'contact_group_members_count_delete',
    'contact_tag_members_count_insert',
    'contact_tag_members_count_delete',
)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == 'sqlite':
        for name in SQLITE_COUNTING:
            op.execute(f'DROP TRIGGER IF EXISTS {name}')
    with op.batch_alter_table('contact_counts', schema=None, recreate='auto') as batch_op:
        batch_op.add_column(
            sa.Column('slot', sa.SmallInteger(), server_default='0', nullable=False)
        )
        batch_op.drop_constraint('pk_contact_counts', type_='primary')
        batch_op.create_primary_key('pk_contact_counts', ['account_id', 'env', 'key', 'slot'])
    if dialect == 'sqlite':
        for statement in _sqlite_triggers('account_id, env, key, slot'):
            op.execute(statement)
    else:
        op.execute(PG_APPLY.format(slots=SLOTS))


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == 'sqlite':
        for name in SQLITE_COUNTING:
            op.execute(f'DROP TRIGGER IF EXISTS {name}')
    # Each count back in one row.
    op.execute(
        "UPDATE contact_counts SET n = (SELECT sum(c.n) FROM contact_counts c"
        " WHERE c.account_id = contact_counts.account_id AND c.env = contact_counts.env"
        " AND c.key = contact_counts.key) WHERE slot = 0"
    )
    op.execute(
        "INSERT INTO contact_counts (account_id, env, key, slot, n)"
        " SELECT account_id, env, key, 0, sum(n) FROM contact_counts c GROUP BY account_id, env, key"
        " HAVING min(slot) > 0"
    )
    op.execute("DELETE FROM contact_counts WHERE slot > 0")
    with op.batch_alter_table('contact_counts', schema=None, recreate='auto') as batch_op:
        batch_op.drop_constraint('pk_contact_counts', type_='primary')
        batch_op.create_primary_key('pk_contact_counts', ['account_id', 'env', 'key'])
        batch_op.drop_column('slot')
    if dialect == 'sqlite':
        for statement in _sqlite_triggers('account_id, env, key'):
            op.execute(statement)
    else:
        op.execute(PG_APPLY_BEFORE)
