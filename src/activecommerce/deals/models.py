from sqlalchemy import BigInteger, Column, Index, Integer, String, Table

from activecommerce.kit.tables import (
    id_column,
    metadata,
    ref_column,
    tenant_columns,
    timestamp_columns,
)

deals = Table(
    "deals",
    metadata,
    id_column(),
    *tenant_columns(),
    Column("name", String(255), nullable=False),
    ref_column("pipeline_id", "pipelines", "RESTRICT", nullable=False),
    ref_column("stage_id", "deal_stages", "RESTRICT", nullable=False),
    ref_column("contact_id", "contacts", "SET NULL", api="contact"),
    Column("value", BigInteger),
    Column("currency", String(3), nullable=False),
    Column("close_date", String(10)),
    Column("duration", Integer),
    ref_column("status_id", "deal_statuses", "SET NULL", api="status"),
    *timestamp_columns(),
    sqlite_autoincrement=True,  # ids are never reused
)
Index("ix_deals_pipeline", deals.c.account_id, deals.c.env, deals.c.pipeline_id)
Index("ix_deals_stage_id", deals.c.stage_id)
Index("ix_deals_contact_id", deals.c.contact_id)
Index("ix_deals_status_id", deals.c.status_id)
Index("ix_deals_pipeline_id", deals.c.pipeline_id)
