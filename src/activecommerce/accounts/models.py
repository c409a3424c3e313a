from sqlalchemy import Column, Index, String, Table, Text

from activecommerce.kit.tables import IdType, id_column, metadata, tenant_columns, timestamp_columns

accounts = Table(
    "accounts",
    metadata,
    id_column(),
    Column("name", String(255), nullable=False),
    Column("plan", String(32), nullable=False),
    # The postal address of marketing email whose brand has none (CAN-SPAM, GDPR).
    Column("postal_address", Text),
    *timestamp_columns(),
    sqlite_autoincrement=True,  # ids are never reused
)

api_keys = Table(
    "api_keys",
    metadata,
    id_column(),
    *tenant_columns(),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(32), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("last_used_at", String(32)),
    Column("revoked_at", String(32)),
    Column("name", String(255)),  # what the key is for, optional
    sqlite_autoincrement=True,  # ids are never reused
)
Index("ix_api_keys_account_env", api_keys.c.account_id, api_keys.c.env)

server_secrets = Table(
    "server_secrets",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", String(255), nullable=False),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    id_column(),
    *tenant_columns(),
    Column("key", String(255), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("status_code", IdType),
    Column("body", String),
    Column("location", String(255)),
    Column("created_at", String(32), nullable=False),
    sqlite_autoincrement=True,  # ids are never reused
)
Index(
    "uq_idempotency_keys_scope",
    idempotency_keys.c.account_id,
    idempotency_keys.c.env,
    idempotency_keys.c.key,
    unique=True,
)
