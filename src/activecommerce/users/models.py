"""Users (installation-wide), their memberships in accounts, and sign-in sessions."""

from sqlalchemy import Column, Index, String, Table, func

from activecommerce.kit.tables import IdType, id_column, metadata, ref_column, timestamp_columns

users = Table(
    "users",
    metadata,
    id_column(),
    Column("email", String(254), nullable=False),
    Column("password_hash", String(255), nullable=False),
    # An IANA zone name (zoneinfo): the console shows times in it.
    Column("time_zone", String(64), nullable=False, server_default="UTC"),
    *timestamp_columns(),
    sqlite_autoincrement=True,  # ids are never reused
)
# One user per email across the installation, compared case-insensitively.
Index("uq_users_email", func.lower(users.c.email), unique=True)

account_memberships = Table(
    "account_memberships",
    metadata,
    id_column(),
    ref_column("account_id", "accounts", "CASCADE", nullable=False),
    ref_column("user_id", "users", "CASCADE", nullable=False),
    Column("role", String(16), nullable=False),  # owner | member
    Column("created_at", String(32), nullable=False),
    sqlite_autoincrement=True,
)
Index(
    "uq_account_memberships_account_user",
    account_memberships.c.account_id,
    account_memberships.c.user_id,
    unique=True,
)
Index("ix_account_memberships_user", account_memberships.c.user_id)

user_sessions = Table(
    "user_sessions",
    metadata,
    id_column(),
    Column("token_hash", String(64), nullable=False, unique=True),
    ref_column("user_id", "users", "CASCADE", nullable=False),
    # The account the console works in (chosen after sign-in); null until chosen.
    ref_column("account_id", "accounts", "CASCADE"),
    Column("created_at", String(32), nullable=False),
    Column("expires_at", String(32), nullable=False),
    sqlite_autoincrement=True,
)
Index("ix_user_sessions_user", user_sessions.c.user_id)

__all__ = ["IdType", "account_memberships", "user_sessions", "users"]
