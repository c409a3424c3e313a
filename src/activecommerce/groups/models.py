from sqlalchemy import Boolean, Column, Index, String, Table

from activecommerce.kit.tables import id_column, metadata, tenant_columns, timestamp_columns

contact_groups = Table(
    "contact_groups",
    metadata,
    id_column(),
    *tenant_columns(),
    Column("name", String(255), nullable=False),
    # Listed on the unsubscribe page, where a person may leave it and stay subscribed.
    Column("public", Boolean, nullable=False, server_default="0"),
    *timestamp_columns(),
    sqlite_autoincrement=True,  # ids are never reused
)
Index(
    "uq_contact_groups_name",
    contact_groups.c.account_id,
    contact_groups.c.env,
    contact_groups.c.name,
    unique=True,
)
