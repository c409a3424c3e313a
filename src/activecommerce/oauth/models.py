"""OAuth 2.0 clients, authorization codes and tokens (docs/decisions/010-users-and-oauth.md).
Secrets, codes and tokens are stored only as keyed hashes (HMAC-SHA256 with the server
secret)."""

from sqlalchemy import Boolean, Column, Index, String, Table, Text

from activecommerce.kit.tables import IdType, id_column, metadata, ref_column, tenant_columns

oauth_clients = Table(
    "oauth_clients",
    metadata,
    id_column(),
    *tenant_columns(),  # the registering account and the client's environment
    Column("client_id", String(64), nullable=False, unique=True),
    Column("secret_hash", String(64)),  # null for a public client
    Column("name", String(255), nullable=False),
    Column("redirect_uris", Text, nullable=False),  # a JSON array, matched exactly
    Column("scopes", String(1024), nullable=False),  # space-separated
    Column("public", Boolean, nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
    sqlite_autoincrement=True,
)
Index("ix_oauth_clients_account_env", oauth_clients.c.account_id, oauth_clients.c.env)

oauth_codes = Table(
    "oauth_codes",
    metadata,
    id_column(),
    *tenant_columns(),  # the account the user chose, the client's environment
    ref_column("client_pk", "oauth_clients", "CASCADE", nullable=False),
    ref_column("user_id", "users", "CASCADE", nullable=False),
    Column("code_hash", String(64), nullable=False, unique=True),
    Column("redirect_uri", Text),
    Column("scope", String(1024), nullable=False),
    Column("code_challenge", String(128)),
    Column("code_challenge_method", String(16)),
    Column("expires_at", String(32), nullable=False),
    Column("used_at", String(32)),
    Column("created_at", String(32), nullable=False),
    sqlite_autoincrement=True,
)
Index("ix_oauth_codes_account_env", oauth_codes.c.account_id, oauth_codes.c.env)
Index("ix_oauth_codes_client", oauth_codes.c.client_pk)

oauth_tokens = Table(
    "oauth_tokens",
    metadata,
    id_column(),
    *tenant_columns(),
    ref_column("client_pk", "oauth_clients", "CASCADE", nullable=False),
    ref_column("user_id", "users", "CASCADE"),  # null for client credentials
    # Every token of one authorization (a code and the refreshes after it) shares its
    # grant id (the code's id): a reused code or refresh token revokes them all.
    Column("grant_id", IdType),
    Column("access_hash", String(64), nullable=False, unique=True),
    Column("refresh_hash", String(64), unique=True),
    Column("scope", String(1024), nullable=False),
    Column("expires_at", String(32), nullable=False),
    Column("refresh_expires_at", String(32)),
    Column("refreshed_at", String(32)),  # the refresh token was used (rotated)
    Column("revoked_at", String(32)),
    Column("created_at", String(32), nullable=False),
    sqlite_autoincrement=True,
)
Index("ix_oauth_tokens_account_env", oauth_tokens.c.account_id, oauth_tokens.c.env)
Index("ix_oauth_tokens_grant", oauth_tokens.c.grant_id)
Index("ix_oauth_tokens_client", oauth_tokens.c.client_pk)
