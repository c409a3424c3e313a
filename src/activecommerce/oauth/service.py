"""OAuth 2.0 clients and tokens: the rules (docs/decisions/010-users-and-oauth.md).

Formats: client ids `ac_client_…`, client secrets `ac_secret_…`, access tokens `ac_at_…`,
refresh tokens `ac_rt_…`, codes 43 random characters; each with ~256 random bits. Only
keyed hashes (HMAC-SHA256 with the server secret) are stored, as for API keys; the prefix
tells the authentication which table to read, one indexed read either way."""

from __future__ import annotations

import contextlib
import ipaddress
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson

from activecommerce.accounts.plans import has_live
from activecommerce.accounts.service import find_account
from activecommerce.auth.scopes import SCOPES, parse_scopes
from activecommerce.kit.clock import now
from activecommerce.kit.db import Connection, Database, Row
from activecommerce.kit.principal import Principal
from activecommerce.kit.problems import Problem
from activecommerce.kit.repository import Scoped
from activecommerce.kit.security import key_hash
from activecommerce.oauth import repository as repo

ACCESS_PREFIX = "ac_at_"
REFRESH_PREFIX = "ac_rt_"
CLIENT_PREFIX = "ac_client_"
SECRET_PREFIX = "ac_secret_"  # noqa: S105 - a prefix

CONFIDENTIAL_GRANTS = frozenset({"authorization_code", "refresh_token", "client_credentials"})
PUBLIC_GRANTS = frozenset({"authorization_code", "refresh_token"})


def new_access_token() -> str:
    return ACCESS_PREFIX + secrets.token_urlsafe(32)


def new_refresh_token() -> str:
    return REFRESH_PREFIX + secrets.token_urlsafe(32)


def _invalid(field: str, message: str) -> Problem:
    return Problem(
        422, "The request has invalid fields.", errors=[{"field": field, "message": message}]
    )


def check_redirect_uri(uri: str) -> str:
    """Absolute, no fragment; plain http only to the loopback (RFC 8252 §7.3); another
    scheme only an app's own, named after a domain (`com.example.app:`, RFC 8252 §7.1),
    never `javascript:` or `data:`; printable ASCII (RFC 3986), no spaces."""
    if not all("!" <= c <= "~" for c in uri):
        raise _invalid("redirectUris", "a URI is printable ASCII without spaces (RFC 3986)")
    try:
        parts = urlsplit(uri)
    except ValueError:
        raise _invalid("redirectUris", f"{uri[:200]!r} is not a URL") from None
    if not parts.scheme or not (parts.netloc or parts.scheme not in ("http", "https")):
        raise _invalid("redirectUris", f"{uri[:200]!r} is not an absolute URL")
    if parts.scheme not in ("http", "https") and "." not in parts.scheme:
        raise _invalid(
            "redirectUris", "an app's own scheme is named after its domain: com.example.app:"
        )
    if parts.fragment or "#" in uri:
        raise _invalid("redirectUris", "a redirect URI must not have a fragment")
    if parts.scheme == "http":
        host = parts.hostname or ""
        loopback = host == "localhost"
        with contextlib.suppress(ValueError):
            loopback = loopback or ipaddress.ip_address(host).is_loopback
        if not loopback:
            raise _invalid("redirectUris", "plain http is allowed for loopback addresses only")
    if len(uri) > 2000:
        raise _invalid("redirectUris", "at most 2000 characters")
    return uri


def check_scopes(scopes: list[str]) -> list[str]:
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise _invalid("scopes", f"unknown scopes {unknown[:10]}; known: {' '.join(SCOPES)}")
    if not scopes:
        raise _invalid("scopes", "at least one scope")
    return sorted(set(scopes))


def client_view(row: Row, secret: str | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": str(row["id"]),
        "clientId": row["client_id"],
        "name": row["name"],
        "environment": row["env"],
        "redirectUris": orjson.loads(row["redirect_uris"]),
        "scopes": parse_scopes(row["scopes"]),
        "public": bool(row["public"]),
        "createdAt": row["created_at"],
        "updatedAt": row["updated_at"],
    }
    if not view["public"]:
        view["clientSecret"] = secret
    return view


async def create_client(
    conn: Connection,
    secret_key: bytes,
    *,
    account_id: int,
    env: str,
    name: str,
    scopes: list[str],
    redirect_uris: list[str],
    public: bool,
) -> dict[str, Any]:
    """A new client; its secret (confidential clients) is in this answer only."""
    scopes = check_scopes(scopes)
    uris = [check_redirect_uri(u) for u in redirect_uris]
    if len(set(uris)) != len(uris):
        raise _invalid("redirectUris", "listed twice")
    if public and not uris:
        raise _invalid("redirectUris", "a public client uses the code flow: give a redirect URI")
    account = await find_account(conn, account_id)
    if account is None:
        raise Problem(404, "No such account.")
    if env == "live" and not has_live(account["plan"]):
        raise Problem(403, "This is a developer account (plan free): it has the sandbox only.")
    client_secret = None if public else SECRET_PREFIX + secrets.token_urlsafe(32)
    stamp = now()
    row = await repo.insert_client(
        conn,
        account_id=account_id,
        env=env,
        client_id=CLIENT_PREFIX + secrets.token_urlsafe(16),
        secret_hash=key_hash(secret_key, client_secret) if client_secret else None,
        name=name,
        redirect_uris=orjson.dumps(uris).decode(),
        scopes=" ".join(scopes),
        public=public,
        created_at=stamp,
        updated_at=stamp,
    )
    return client_view(row, client_secret)


async def list_clients(scope: Scoped, limit: int, offset: int) -> tuple[int, list[dict[str, Any]]]:
    """A page of the environment's clients (how many in all, and their views), oldest
    first, without their secrets."""
    total, rows = await repo.list_clients(scope, limit, offset)
    views = [client_view(row) for row in rows]
    for view in views:
        view.pop("clientSecret", None)
    return total, views


async def delete_client(db: Database, principal: Principal, client_pk: int) -> bool:
    async with db.transaction() as conn:
        return await repo.delete_client(Scoped(conn, principal), client_pk) > 0


@dataclass(frozen=True)
class Client:
    """A registered client, as authlib's server sees it (its ClientMixin methods)."""

    pk: int
    client_id: str
    account_id: int
    env: str
    name: str
    secret_hash: str | None
    redirect_uris: tuple[str, ...]
    scopes: frozenset[str]
    public: bool
    hmac_key: bytes

    @classmethod
    def from_row(cls, row: Row, hmac_key: bytes) -> Client:
        return cls(
            pk=int(row["id"]),
            client_id=row["client_id"],
            account_id=int(row["account_id"]),
            env=row["env"],
            name=row["name"],
            secret_hash=row["secret_hash"],
            redirect_uris=tuple(orjson.loads(row["redirect_uris"])),
            scopes=frozenset(parse_scopes(row["scopes"])),
            public=bool(row["public"]),
            hmac_key=hmac_key,
        )

    # authlib's ClientMixin
    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        # Only when there is exactly one: with several, the request must name one.
        return self.redirect_uris[0] if len(self.redirect_uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str:
        requested = parse_scopes(scope)
        if not requested:
            return " ".join(sorted(self.scopes))
        return " ".join(s for s in requested if s in self.scopes)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris  # an exact match

    def check_client_secret(self, client_secret: str) -> bool:
        if self.secret_hash is None or not client_secret or len(client_secret) > 200:
            return False
        return secrets.compare_digest(self.secret_hash, key_hash(self.hmac_key, client_secret))

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.public:
            return method == "none"
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and bool(self.redirect_uris)

    def check_grant_type(self, grant_type: str) -> bool:
        if grant_type == "authorization_code" and not self.redirect_uris:
            return False
        return grant_type in (PUBLIC_GRANTS if self.public else CONFIDENTIAL_GRANTS)


class TokenAuthenticator:
    """Turns a presented access token into a Principal: one indexed read by its keyed
    hash (with the account's plan), as for an API key."""

    def __init__(self, db: Database, secret: bytes) -> None:
        self._db = db
        self.secret = secret

    async def authenticate(self, raw: str) -> Principal | None:
        if len(raw) > 200:
            return None
        row = await repo.system_find_active_token(self._db, key_hash(self.secret, raw))
        if row is None or row["expires_at"] <= now():
            return None
        return Principal(
            int(row["account_id"]),
            row["env"],
            row["plan"],
            0,
            frozenset(parse_scopes(row["scope"])),
        )
