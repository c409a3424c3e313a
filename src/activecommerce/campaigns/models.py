from typing import Any

from sqlalchemy import Boolean, Column, Index, String, Table, Text

from activecommerce.kit.tables import (
    id_column,
    metadata,
    ref_column,
    tenant_columns,
    timestamp_columns,
)


def email_content_columns() -> list[Column[Any]]:
    """The message fields that campaigns and automations share."""
    return [
        Column("name", String(255), nullable=False),
        Column("subject", Text, nullable=False),
        Column("from_email", String(254), nullable=False),
        Column("from_name", String(255)),
        Column("reply_to_email", String(254)),
        Column("html_content", Text),
        Column("plaintext_content", Text),
        ref_column("brand_id", "brands", "SET NULL"),
        # SPEC §14: an open pixel and click redirects, each unless turned off.
        Column("track_opens", Boolean, nullable=False, server_default="1"),
        Column("track_clicks", Boolean, nullable=False, server_default="1"),
    ]


email_campaigns = Table(
    "email_campaigns",
    metadata,
    id_column(),
    *tenant_columns(),
    *email_content_columns(),
    Column("status", String(16), nullable=False, default="draft"),  # at creation
    Column("scheduled_at", String(32)),
    Column("sent_at", String(32)),
    *timestamp_columns(),
    # Sending (docs/decisions/008-email-sending.md): the audience asked for
    # ({"groupIds": [...], "tagIds": [...]}), and when its recipients were all recorded
    # (the campaign is sent once they are decided).
    Column("audience", Text),
    Column("resolved_at", String(32)),
    sqlite_autoincrement=True,  # ids are never reused
)
Index("ix_email_campaigns_brand_id", email_campaigns.c.brand_id)
