from sqlalchemy import Column, Index, Integer, String, Table

from activecommerce.kit.tables import (
    id_column,
    metadata,
    ref_column,
    tenant_columns,
    timestamp_columns,
)

pipelines = Table(
    "pipelines",
    metadata,
    id_column(),
    *tenant_columns(),
    Column("name", String(255), nullable=False),
    Column("currency", String(3), nullable=False),
    *timestamp_columns(),
    sqlite_autoincrement=True,  # ids are never reused
)
Index("ix_pipelines_created", pipelines.c.account_id, pipelines.c.env, pipelines.c.created_at)

deal_stages = Table(
    "deal_stages",
    metadata,
    id_column(),
    *tenant_columns(),
    ref_column("pipeline_id", "pipelines", "CASCADE", nullable=False),
    Column("name", String(255), nullable=False),
    Column("position", Integer, info={"api": "order"}),
    *timestamp_columns(),
    sqlite_autoincrement=True,  # ids are never reused
)
Index(
    "ix_deal_stages_pipeline",
    deal_stages.c.account_id,
    deal_stages.c.env,
    deal_stages.c.pipeline_id,
)
Index("ix_deal_stages_pipeline_id", deal_stages.c.pipeline_id)

deal_statuses = Table(
    "deal_statuses",
    metadata,
    id_column(),
    *tenant_columns(),
    ref_column("pipeline_id", "pipelines", "CASCADE", nullable=False),
    Column("name", String(255), nullable=False),
    Column("color", String(7)),
    *timestamp_columns(),
    sqlite_autoincrement=True,  # ids are never reused
)
Index(
    "ix_deal_statuses_pipeline",
    deal_statuses.c.account_id,
    deal_statuses.c.env,
    deal_statuses.c.pipeline_id,
)
Index("ix_deal_statuses_pipeline_id", deal_statuses.c.pipeline_id)
