from sqlalchemy import Boolean, Column, Index, Integer, String, Table, Text

from activecommerce.kit.tables import (
    id_column,
    metadata,
    ref_column,
    tenant_columns,
    timestamp_columns,
)

webhooks = Table(
    "webhooks",
    metadata,
    id_column(),
    *tenant_columns(),
    Column("url", Text, nullable=False),
    Column("events", Text, nullable=False, info={"json": True}),  # a JSON list
    Column("description", Text),
    Column("active", Boolean, nullable=False),
    *timestamp_columns(),
    # The signing secret, encrypted with the server key (it must be usable to sign, so
    # it cannot be hashed).
    Column("secret_encrypted", Text),
    Column("disabled_reason", Text),
    Column("consecutive_failures", Integer, nullable=False, server_default="0"),
    # When the current streak of failed attempts began (None: the last attempt worked).
    Column("failing_since", String(32)),
    sqlite_autoincrement=True,  # ids are never reused
)
Index("ix_webhooks_account_env", webhooks.c.account_id, webhooks.c.env, webhooks.c.active)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    id_column(),
    *tenant_columns(),
    ref_column("webhook_id", "webhooks", "CASCADE", nullable=False),
    ref_column("event_id", "events", "CASCADE", nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("status_code", Integer),
    Column("duration_ms", Integer, nullable=False),
    Column("error", Text),
    Column("created_at", String(32), nullable=False),
    # "delivered" | "failed" | "skipped" (the webhook was off when the event came up).
    Column("outcome", String(16)),
    sqlite_autoincrement=True,  # ids are never reused
)
Index("ix_webhook_deliveries_webhook", webhook_deliveries.c.webhook_id, webhook_deliveries.c.id)
Index("ix_webhook_deliveries_event_id", webhook_deliveries.c.event_id)
