from sqlalchemy import Boolean, Column, Table, Text

from activecommerce.kit.tables import id_column, metadata, tenant_columns, timestamp_columns

webhooks = Table(
    "webhooks",
    metadata,
    id_column(),
    *tenant_columns(),
    Column("url", Text, nullable=False),
    Column("events", Text, nullable=False),
    Column("description", Text),
    Column("active", Boolean, nullable=False),
    *timestamp_columns(),
)
