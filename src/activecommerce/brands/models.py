from sqlalchemy import Column, String, Table, Text

from activecommerce.kit.tables import id_column, metadata, tenant_columns, timestamp_columns

brands = Table(
    "brands",
    metadata,
    id_column(),
    *tenant_columns(),
    Column("name", String(255), nullable=False),
    Column("from_email", String(254)),
    Column("from_name", String(255)),
    Column("postal_address", Text),
    *timestamp_columns(),
    sqlite_autoincrement=True,  # ids are never reused
)
