"""contacts at scale: maintained counts, a text index for q, indexes for every sort

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 22:00:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

IdType = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')

# Counts kept by the database itself, in the transaction of each change (any path: the
# API, imports, bounces, cascades): 'all', 'status:<status>', 'group:<id>', 'tag:<id>'.
SQLITE_TRIGGERS = [
    """CREATE TRIGGER contact_counts_insert AFTER INSERT ON contacts BEGIN
  INSERT INTO contact_counts (account_id, env, key, n)
  VALUES (NEW.account_id, NEW.env, 'all', 1), (NEW.account_id, NEW.env, 'status:' || NEW.status, 1)
  ON CONFLICT (account_id, env, key) DO UPDATE SET n = n + 1;
  INSERT INTO contacts_fts (rowid, email, first_name, last_name)
  VALUES (NEW.id, NEW.email, NEW.first_name, NEW.last_name);
END""",
    """CREATE TRIGGER contact_counts_delete AFTER DELETE ON contacts BEGIN
  UPDATE contact_counts SET n = n - 1 WHERE account_id = OLD.account_id AND env = OLD.env
    AND key IN ('all', 'status:' || OLD.status);
  INSERT INTO contacts_fts (contacts_fts, rowid, email, first_name, last_name)
  VALUES ('delete', OLD.id, OLD.email, OLD.first_name, OLD.last_name);
END""",
    """CREATE TRIGGER contact_counts_status AFTER UPDATE OF status ON contacts
WHEN OLD.status IS NOT NEW.status BEGIN
  UPDATE contact_counts SET n = n - 1 WHERE account_id = OLD.account_id AND env = OLD.env
    AND key = 'status:' || OLD.status;
  INSERT INTO contact_counts (account_id, env, key, n)
  VALUES (NEW.account_id, NEW.env, 'status:' || NEW.status, 1)
  ON CONFLICT (account_id, env, key) DO UPDATE SET n = n + 1;
END""",
    """CREATE TRIGGER contacts_fts_update AFTER UPDATE OF email, first_name, last_name ON contacts
BEGIN
  INSERT INTO contacts_fts (contacts_fts, rowid, email, first_name, last_name)
  VALUES ('delete', OLD.id, OLD.email, OLD.first_name, OLD.last_name);
  INSERT INTO contacts_fts (rowid, email, first_name, last_name)
  VALUES (NEW.id, NEW.email, NEW.first_name, NEW.last_name);
END""",
]
for _table, _column, _prefix in (
    ('contact_group_members', 'group_id', 'group'),
    ('contact_tag_members', 'tag_id', 'tag'),
):
    SQLITE_TRIGGERS += [
        f"""CREATE TRIGGER {_table}_count_insert AFTER INSERT ON {_table} BEGIN
  INSERT INTO contact_counts (account_id, env, key, n)
  VALUES (NEW.account_id, NEW.env, '{_prefix}:' || NEW.{_column}, 1)
  ON CONFLICT (account_id, env, key) DO UPDATE SET n = n + 1;
END""",
        f"""CREATE TRIGGER {_table}_count_delete AFTER DELETE ON {_table} BEGIN
  UPDATE contact_counts SET n = n - 1 WHERE account_id = OLD.account_id AND env = OLD.env
    AND key = '{_prefix}:' || OLD.{_column};
END""",
    ]

# PostgreSQL: statement-level triggers over transition tables (one grouped upsert per
# statement, not one per row: a bulk insert of 1,000 contacts costs one). Keys are
# upserted in sorted order, so that concurrent writers lock counter rows in one order.
PG_FUNCTIONS = [
    """CREATE FUNCTION contact_counts_apply(deltas jsonb) RETURNS void LANGUAGE sql AS $$
  INSERT INTO contact_counts (account_id, env, key, n)
  SELECT (d->>'a')::bigint, d->>'e', d->>'k', sum((d->>'n')::bigint)
  FROM jsonb_array_elements(deltas) AS d
  GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
  ON CONFLICT (account_id, env, key) DO UPDATE SET n = contact_counts.n + EXCLUDED.n
$$""",
    """CREATE FUNCTION contacts_counted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE deltas jsonb;
BEGIN
  IF TG_OP = 'INSERT' THEN
    SELECT jsonb_agg(x) INTO deltas FROM (
      SELECT account_id AS a, env AS e, k, count(*) AS n
      FROM new_rows, LATERAL (VALUES ('all'), ('status:' || status)) AS v(k)
      GROUP BY 1, 2, 3) x;
  ELSIF TG_OP = 'DELETE' THEN
    SELECT jsonb_agg(x) INTO deltas FROM (
      SELECT account_id AS a, env AS e, k, -count(*) AS n
      FROM old_rows, LATERAL (VALUES ('all'), ('status:' || status)) AS v(k)
      GROUP BY 1, 2, 3) x;
  ELSE
    SELECT jsonb_agg(x) INTO deltas FROM (
      SELECT a, e, k, sum(n) AS n FROM (
        SELECT o.account_id AS a, o.env AS e, 'status:' || o.status AS k, -1 AS n
        FROM old_rows o JOIN new_rows w ON w.id = o.id WHERE o.status IS DISTINCT FROM w.status
        UNION ALL
        SELECT w.account_id, w.env, 'status:' || w.status, 1
        FROM old_rows o JOIN new_rows w ON w.id = o.id WHERE o.status IS DISTINCT FROM w.status
      ) c GROUP BY 1, 2, 3) x;
  END IF;
  IF deltas IS NOT NULL THEN PERFORM contact_counts_apply(deltas); END IF;
  RETURN NULL;
END $$""",
    """CREATE FUNCTION members_counted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE deltas jsonb;
BEGIN
  IF TG_OP = 'INSERT' THEN
    SELECT jsonb_agg(x) INTO deltas FROM (
      SELECT account_id AS a, env AS e, TG_ARGV[0] || ':' || target AS k, count(*) AS n
      FROM (SELECT account_id, env, CASE WHEN TG_ARGV[0] = 'group'
            THEN (to_jsonb(r)->>'group_id') ELSE (to_jsonb(r)->>'tag_id') END AS target
            FROM new_rows r) m GROUP BY 1, 2, 3) x;
  ELSE
    SELECT jsonb_agg(x) INTO deltas FROM (
      SELECT account_id AS a, env AS e, TG_ARGV[0] || ':' || target AS k, -count(*) AS n
      FROM (SELECT account_id, env, CASE WHEN TG_ARGV[0] = 'group'
            THEN (to_jsonb(r)->>'group_id') ELSE (to_jsonb(r)->>'tag_id') END AS target
            FROM old_rows r) m GROUP BY 1, 2, 3) x;
  END IF;
  IF deltas IS NOT NULL THEN PERFORM contact_counts_apply(deltas); END IF;
  RETURN NULL;
END $$""",
]
PG_TRIGGERS = [
    "CREATE TRIGGER contact_counts_insert AFTER INSERT ON contacts REFERENCING NEW TABLE AS"
    " new_rows FOR EACH STATEMENT EXECUTE FUNCTION contacts_counted()",
    "CREATE TRIGGER contact_counts_delete AFTER DELETE ON contacts REFERENCING OLD TABLE AS"
    " old_rows FOR EACH STATEMENT EXECUTE FUNCTION contacts_counted()",
    "CREATE TRIGGER contact_counts_update AFTER UPDATE ON contacts REFERENCING OLD TABLE AS"
    " old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION contacts_counted()",
]
for _table, _prefix in (('contact_group_members', 'group'), ('contact_tag_members', 'tag')):
    PG_TRIGGERS += [
        f"CREATE TRIGGER {_table}_count_insert AFTER INSERT ON {_table} REFERENCING NEW TABLE"
        f" AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION members_counted('{_prefix}')",
        f"CREATE TRIGGER {_table}_count_delete AFTER DELETE ON {_table} REFERENCING OLD TABLE"
        f" AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION members_counted('{_prefix}')",
    ]

BACKFILL = [
    "INSERT INTO contact_counts (account_id, env, key, n)"
    " SELECT account_id, env, 'all', count(*) FROM contacts GROUP BY account_id, env",
    "INSERT INTO contact_counts (account_id, env, key, n)"
    " SELECT account_id, env, 'status:' || status, count(*) FROM contacts"
    " GROUP BY account_id, env, status",
    "INSERT INTO contact_counts (account_id, env, key, n)"
    " SELECT account_id, env, 'group:' || group_id, count(*) FROM contact_group_members"
    " GROUP BY account_id, env, group_id",
    "INSERT INTO contact_counts (account_id, env, key, n)"
    " SELECT account_id, env, 'tag:' || tag_id, count(*) FROM contact_tag_members"
    " GROUP BY account_id, env, tag_id",
]

SORTS = [
    ('ix_contacts_email_sort', ['account_id', 'env', 'email']),
    ('ix_contacts_first_name', ['account_id', 'env', 'first_name']),
    ('ix_contacts_last_name', ['account_id', 'env', 'last_name']),
    ('ix_contacts_updated', ['account_id', 'env', 'updated_at']),
    ('ix_contacts_status_created', ['account_id', 'env', 'status', 'created_at']),
]


def upgrade() -> None:
    op.create_table(
        'contact_counts',
        sa.Column('account_id', IdType, nullable=False),
        sa.Column('env', sa.String(length=8), nullable=False),
        sa.Column('key', sa.String(length=40), nullable=False),
        sa.Column('n', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('account_id', 'env', 'key', name='pk_contact_counts'),
    )
    for name, columns in SORTS:
        op.create_index(name, 'contacts', columns)
    op.drop_index('ix_contacts_status', table_name='contacts')
    dialect = op.get_bind().dialect.name
    if dialect == 'sqlite':
        # Substring search: FTS5's trigram tokenizer (case-insensitive), kept in step by
        # the triggers above; an external-content table (the text is not stored twice).
        op.execute(
            "CREATE VIRTUAL TABLE contacts_fts USING fts5(email, first_name, last_name,"
            " content='contacts', content_rowid='id', tokenize='trigram')"
        )
        op.execute("INSERT INTO contacts_fts (contacts_fts) VALUES ('rebuild')")
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)
    else:
        op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
        for column in ('email', 'first_name', 'last_name'):
            op.execute(
                f'CREATE INDEX ix_contacts_{column}_trgm ON contacts'
                f' USING gin (lower({column}) gin_trgm_ops)'
            )
        for statement in PG_FUNCTIONS + PG_TRIGGERS:
            op.execute(statement)
    for statement in BACKFILL:
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == 'sqlite':
        for name in (
            'contact_counts_insert', 'contact_counts_delete', 'contact_counts_status',
            'contacts_fts_update', 'contact_group_members_count_insert',
            'contact_group_members_count_delete', 'contact_tag_members_count_insert',
            'contact_tag_members_count_delete',
        ):
            op.execute(f'DROP TRIGGER IF EXISTS {name}')
        op.execute('DROP TABLE IF EXISTS contacts_fts')
    else:
        for table, names in (
            ('contacts', ('contact_counts_insert', 'contact_counts_delete', 'contact_counts_update')),
            ('contact_group_members', ('contact_group_members_count_insert', 'contact_group_members_count_delete')),
            ('contact_tag_members', ('contact_tag_members_count_insert', 'contact_tag_members_count_delete')),
        ):
            for name in names:
                op.execute(f'DROP TRIGGER IF EXISTS {name} ON {table}')
        op.execute('DROP FUNCTION IF EXISTS members_counted()')
        op.execute('DROP FUNCTION IF EXISTS contacts_counted()')
        op.execute('DROP FUNCTION IF EXISTS contact_counts_apply(jsonb)')
        for column in ('email', 'first_name', 'last_name'):
            op.execute(f'DROP INDEX IF EXISTS ix_contacts_{column}_trgm')
    op.create_index('ix_contacts_status', 'contacts', ['account_id', 'env', 'status'])
    for name, _ in SORTS:
        op.drop_index(name, table_name='contacts')
    op.drop_table('contact_counts')
