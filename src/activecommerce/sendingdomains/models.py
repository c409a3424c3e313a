"""Sending domains: the domains an account sends from, each with its DKIM key pair and
the DNS records to publish, and whether they were found."""

from sqlalchemy import Column, Index, String, Table, Text

from activecommerce.kit.tables import id_column, metadata, tenant_columns, timestamp_columns

sending_domains = Table(
    "sending_domains",
    metadata,
    id_column(),
    *tenant_columns(),
    Column("domain", String(253), nullable=False),  # lower-cased, IDNA (ASCII)
    Column("selector", String(63), nullable=False),  # the DKIM selector
    # The RSA private key (PKCS#8 DER), encrypted with a key derived from the server's
    # secret; never returned by the API.
    Column("private_key", Text, nullable=False),
    Column("public_key", Text, nullable=False),  # base64 SubjectPublicKeyInfo, p= of DKIM
    Column("status", String(16), nullable=False),  # pending | verified
    # The last verification: JSON [{type, name, value, state}] (NULL: never checked).
    Column("records", Text),
    Column("verified_at", String(32)),
    Column("checked_at", String(32)),
    *timestamp_columns(),
    sqlite_autoincrement=True,
)
Index(
    "uq_sending_domains_domain",
    sending_domains.c.account_id,
    sending_domains.c.env,
    sending_domains.c.domain,
    unique=True,
)
