from sqlalchemy import Column, Index, String, Table

from activecommerce.kit.tables import (
    id_column,
    metadata,
    ref_column,
    tenant_columns,
    timestamp_columns,
)

# The account+environment's suppression list: addresses never to be mailed again, kept
# when their contact is deleted. Found by a keyed hash of the lower-cased address
# (consent/keys.py), so that an erased person's entry (`email` NULL) is still found by
# their address while nothing readable of it is kept.
suppressions = Table(
    "suppressions",
    metadata,
    id_column(),
    *tenant_columns(),
    Column("email", String(254)),  # as it was given; NULL once erased
    Column("email_hash", String(64), nullable=False),
    # unsubscribed, bounced, complained, manual, erased
    Column("reason", String(16), nullable=False),
    # what recorded it: unsubscribe, bounce, complaint, api, console, import, erasure
    Column("source", String(16), nullable=False),
    *timestamp_columns(),
    sqlite_autoincrement=True,  # ids are never reused
)
Index(
    "uq_suppressions_email_hash",
    suppressions.c.account_id,
    suppressions.c.env,
    suppressions.c.email_hash,
    unique=True,
)
Index(
    "ix_suppressions_created",
    suppressions.c.account_id,
    suppressions.c.env,
    suppressions.c.created_at,
)

# Every grant and withdrawal of a contact's consent to be mailed, with where it came from.
consents = Table(
    "consents",
    metadata,
    id_column(),
    *tenant_columns(),
    ref_column("contact_id", "contacts", "CASCADE", nullable=False),
    Column("action", String(16), nullable=False),  # granted, withdrawn
    # form, api, import, console, unsubscribe, complaint, bounce
    Column("source", String(16), nullable=False),
    ref_column("form_id", "forms", "SET NULL"),
    Column("ip", String(64)),
    Column("user_agent", String(512)),
    Column("created_at", String(32), nullable=False),
    sqlite_autoincrement=True,
)
Index("ix_consents_contact", consents.c.contact_id, consents.c.id)
