"""The tables of sending.

`email_messages` is the durable record of one email to one recipient: one row per
(campaign, contact) and per (automation, contact), made before anything is sent. It
decides who gets mail (a unique index refuses a second row), carries the stable
Message-ID (derived from its id), the outcome and the opens and clicks.

`captured_emails` holds what the capture transport "sent" (the sandbox, or live without
an SMTP relay), whole, for `GET /v3/sandbox/emails`; it is pruned after
ACTIVECOMMERCE_CAPTURE_RETENTION_DAYS.
"""

from sqlalchemy import Boolean, Column, Index, Integer, String, Table, Text

from activecommerce.kit.tables import (
    IdType,
    id_column,
    metadata,
    ref_column,
    tenant_columns,
)

email_messages = Table(
    "email_messages",
    metadata,
    id_column(),
    *tenant_columns(),
    ref_column("campaign_id", "email_campaigns", "CASCADE"),
    ref_column("automation_id", "email_automations", "CASCADE"),
    ref_column("contact_id", "contacts", "SET NULL"),
    # A test copy (POST .../test): not a recipient of the campaign, not in its report.
    Column("is_test", Boolean, nullable=False, server_default="0"),
    # Test copies name their address; recipients' is read from the contact when sent.
    Column("to_email", String(254)),
    # queued -> sent | failed | skipped (the contact was no longer active when due);
    # held: an automation's email that came due while it was paused.
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("due_at", String(32), nullable=False),
    Column("sent_at", String(32)),
    Column("error", Text),
    Column("bounced_at", String(32)),
    Column("unsubscribed_at", String(32)),
    Column("opened_at", String(32)),
    Column("open_count", Integer, nullable=False, server_default="0"),
    Column("clicked_at", String(32)),
    Column("click_count", Integer, nullable=False, server_default="0"),
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
    sqlite_autoincrement=True,  # ids are never reused: they are in Message-IDs and links
)
# One email per recipient of a campaign or an automation, whatever retries or crashes do.
Index(
    "uq_email_messages_campaign_contact",
    email_messages.c.campaign_id,
    email_messages.c.contact_id,
    unique=True,
    sqlite_where=~email_messages.c.is_test,
    postgresql_where=~email_messages.c.is_test,
)
Index(
    "uq_email_messages_automation_contact",
    email_messages.c.automation_id,
    email_messages.c.contact_id,
    unique=True,
)
# Reports and "is anything of this campaign still queued?".
Index("ix_email_messages_campaign_status", email_messages.c.campaign_id, email_messages.c.status)
Index(
    "ix_email_messages_automation_status",
    email_messages.c.automation_id,
    email_messages.c.status,
)
# A contact's emails (and SET NULL when a contact is deleted).
Index("ix_email_messages_contact", email_messages.c.contact_id)

captured_emails = Table(
    "captured_emails",
    metadata,
    id_column(),
    *tenant_columns(),
    # Plain ids, no foreign keys: captured mail outlives what it was sent for.
    Column("message_id", IdType),
    Column("campaign_id", IdType),
    Column("automation_id", IdType),
    Column("contact_id", IdType),
    Column("to_email", String(254), nullable=False),
    Column("from_header", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("html", Text),
    Column("text", Text),
    Column("headers", Text, nullable=False),  # JSON object, as sent
    Column("raw", Text),  # the message as it would go on the wire (None before 0014)
    Column("created_at", String(32), nullable=False),
    sqlite_autoincrement=True,
)
Index(
    "ix_captured_emails_account_env",
    captured_emails.c.account_id,
    captured_emails.c.env,
    captured_emails.c.id,
)
Index("ix_captured_emails_created_at", captured_emails.c.created_at)  # pruning
