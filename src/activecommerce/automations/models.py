from sqlalchemy import Column, Index, Integer, String, Table, Text

from activecommerce.campaigns.models import email_content_columns
from activecommerce.kit.tables import id_column, metadata, tenant_columns, timestamp_columns

email_automations = Table(
    "email_automations",
    metadata,
    id_column(),
    *tenant_columns(),
    *email_content_columns(),
    Column("trigger_spec", Text, nullable=False, info={"api": "trigger", "json": True}),
    Column("delay_seconds", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    *timestamp_columns(),
    sqlite_autoincrement=True,  # ids are never reused
)
Index("ix_email_automations_brand_id", email_automations.c.brand_id)
# Enrolment reads an account's active automations at each event that may trigger one.
Index(
    "ix_email_automations_account_env",
    email_automations.c.account_id,
    email_automations.c.env,
    email_automations.c.status,
)
