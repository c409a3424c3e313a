from sqlalchemy import Column, Index, String, Table

from activecommerce.kit.tables import id_column, metadata, tenant_columns, timestamp_columns

contact_tags = Table(
    "contact_tags",
    metadata,
    id_column(),
    *tenant_columns(),
    Column("name", String(255), nullable=False),
    *timestamp_columns(),
    sqlite_autoincrement=True,  # ids are never reused
)
Index(
    "uq_contact_tags_name",
    contact_tags.c.account_id,
    contact_tags.c.env,
    contact_tags.c.name,
    unique=True,
)
