from sqlalchemy import Column, Index, PrimaryKeyConstraint, String, Table, func

from activecommerce.kit.tables import (
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
    *timestamp_columns(),
    sqlite_autoincrement=True,  # ids are never reused
)
# The database, not a prior SELECT, refuses a duplicate email (two racing requests).
Index(
    "uq_contacts_email",
    contacts.c.account_id,
    contacts.c.env,
    func.lower(contacts.c.email),
    unique=True,
)
Index("ix_contacts_created", contacts.c.account_id, contacts.c.env, contacts.c.created_at)
Index("ix_contacts_status", contacts.c.account_id, contacts.c.env, contacts.c.status)


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
