from sqlalchemy import Column, Index, String, Table, Text

from activecommerce.kit.tables import id_column, metadata, tenant_columns, timestamp_columns

segments = Table(
    "segments",
    metadata,
    id_column(),
    *tenant_columns(),
    Column("name", String(255), nullable=False),
    # The condition tree as validated (ids as strings), JSON text.
    Column("conditions", Text, nullable=False, info={"json": True}),
    *timestamp_columns(),
    sqlite_autoincrement=True,  # ids are never reused
)
Index("ix_segments_name", segments.c.account_id, segments.c.env, segments.c.name)
