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
    # What a bounce or a later report made of it: hard | soft | policy (NULL: none).
    Column("bounce_kind", String(8)),
    # A delivery the relay's or the provider's report confirmed; a complaint about it.
    Column("delivered_at", String(32)),
    Column("complained_at", String(32)),
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

# Every delivery report believed (a DSN or an ARF report at `activecommerce inbound`, a
# provider's signed webhook, the sandbox's mailbox simulator, a refusal at send time):
# one row per message and kind, so that a report delivered twice counts once, and the
# contact's soft bounces of the last 30 days can be counted (three make a hard one).
email_reports = Table(
    "email_reports",
    metadata,
    id_column(),
    *tenant_columns(),
    # Plain ids, no foreign keys: the history outlives the message and the contact.
    Column("message_id", IdType, nullable=False),
    Column("contact_id", IdType),
    # delivered | hard | soft | policy | complaint
    Column("kind", String(16), nullable=False),
    # smtp | dsn | arf | ses | sendgrid | postmark | simulator
    Column("source", String(16), nullable=False),
    Column("status_code", String(16)),  # the enhanced status code (RFC 3463), e.g. 5.1.1
    Column("reason", Text),
    Column("created_at", String(32), nullable=False),
    sqlite_autoincrement=True,
)
Index(
    "uq_email_reports_message_kind",
    email_reports.c.message_id,
    email_reports.c.kind,
    unique=True,
)
Index(
    "ix_email_reports_contact",
    email_reports.c.account_id,
    email_reports.c.env,
    email_reports.c.contact_id,
    email_reports.c.kind,
    email_reports.c.created_at,
)

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
