from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

from activecommerce.kit.tables import (
    IdType,
    id_column,
    metadata,
    ref_column,
    tenant_columns,
    timestamp_columns,
)

contacts = Table(
    "contacts",
    metadata,
    id_column(),
    *tenant_columns(),
    Column("email", String(254), nullable=False),
    Column("first_name", String(255)),
    Column("last_name", String(255)),
    Column("phone", String(255)),
    Column("status", String(16), nullable=False),
    # Custom field values: a JSON object {field id: value} of the fields that have one, or
    # NULL when none has (jsonb on PostgreSQL; fields/values.py). The API shows it by key.
    Column("fields", Text().with_variant(JSONB(), "postgresql"), info={"json": True}),
    *timestamp_columns(),
    sqlite_autoincrement=True,  # ids are never reused
)
# The database, not a prior SELECT, refuses a duplicate email (two racing requests); the
# list sorted by email walks this index too (emails sort case-insensitively).
Index(
    "uq_contacts_email",
    contacts.c.account_id,
    contacts.c.env,
    func.lower(contacts.c.email),
    unique=True,
)
# Every sort of the list has an index that leads with the tenant; the status
# filter's serves its default order too.
Index("ix_contacts_created", contacts.c.account_id, contacts.c.env, contacts.c.created_at)
Index("ix_contacts_updated", contacts.c.account_id, contacts.c.env, contacts.c.updated_at)
Index("ix_contacts_first_name", contacts.c.account_id, contacts.c.env, contacts.c.first_name)
Index("ix_contacts_last_name", contacts.c.account_id, contacts.c.env, contacts.c.last_name)
Index(
    "ix_contacts_status_created",
    contacts.c.account_id,
    contacts.c.env,
    contacts.c.status,
    contacts.c.created_at,
)
# Not declared here because they are one database's own (migration 0005): on SQLite the
# FTS5 table `contacts_fts` (trigram) and the triggers that keep it and `contact_counts`
# in step; on PostgreSQL GIN trigram indexes on lower(email/first_name/last_name) and
# statement-level triggers for the counts.

# Counts the database keeps in the transaction of every change (migration 0005's
# triggers): key 'all', 'status:<status>', 'group:<id>', 'tag:<id>'. They make a list's
# total exact without counting a million rows. A count is the sum of its slots' rows
# (migration 0013): PostgreSQL writes the slot of the connection, so that concurrent
# writers of one account do not queue on one row until they commit; SQLite uses slot 0.
contact_counts = Table(
    "contact_counts",
    metadata,
    Column("account_id", IdType, nullable=False),
    Column("env", String(8), nullable=False),
    Column("key", String(40), nullable=False),
    Column("slot", SmallInteger, nullable=False, server_default="0"),
    Column("n", BigInteger, nullable=False),
    PrimaryKeyConstraint("account_id", "env", "key", "slot"),
)


def _membership(name: str, target: str, column: str) -> Table:
    table = Table(
        name,
        metadata,
        ref_column("contact_id", "contacts", "CASCADE", nullable=False),
        ref_column(column, target, "CASCADE", nullable=False),
        *tenant_columns(),
        Column("created_at", String(32), nullable=False),
        PrimaryKeyConstraint("contact_id", column),
    )
    Index(f"ix_{name}_{column}", table.c[column], table.c.contact_id)
    return table


contact_tag_members = _membership("contact_tag_members", "contact_tags", "tag_id")
contact_group_members = _membership("contact_group_members", "contact_groups", "group_id")

# A contact's activity (what happened to it: changes, tags, groups, deals, emails), kept
# for as long as the contact exists, unlike the events table, which the retention prunes.
# Written by kit.events.record in the transaction of the change (one row per event that
# names a contact), and by imports (one `contact.imported` row per contact and batch).
# Read per contact, newest first: the (contact_id, id) index.
contact_activity = Table(
    "contact_activity",
    metadata,
    id_column(),
    *tenant_columns(),
    ref_column("contact_id", "contacts", "CASCADE", nullable=False),
    Column("type", String(64), nullable=False),
    Column("data", Text, nullable=False),  # JSON object
    Column("created_at", String(32), nullable=False),
    sqlite_autoincrement=True,
)
Index("ix_contact_activity_contact", contact_activity.c.contact_id, contact_activity.c.id)
