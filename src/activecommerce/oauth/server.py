"""The OAuth 2.0 authorization server: authlib's framework-neutral core
(`authlib.oauth2.rfc6749.AuthorizationServer`, its grants, RFC 7636 and RFC 7009) with
adapters of our own for Starlette requests and responses, and its storage callbacks on
our database.

authlib's core is synchronous; our database is asynchronous. The OAuth endpoints (not a
hot path: one token request per hour per app) run authlib in a worker thread, whose
storage callbacks hand their queries back to the event loop (`_wait`). The single use of
a code and of a refresh token is decided by the database (a conditional UPDATE, in the
transaction that saves the token it gives), so two racing requests cannot both succeed,
and a refused request uses nothing up."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

from authlib.oauth2.rfc6749 import (
    AuthorizationServer,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Request,
)
from authlib.oauth2.rfc6749.grants import (
    AuthorizationCodeGrant,
    ClientCredentialsGrant,
    RefreshTokenGrant,
)
from authlib.oauth2.rfc6749.requests import OAuth2Payload
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge

from activecommerce.auth.scopes import SCOPES, parse_scopes
from activecommerce.kit.clock import after, now
from activecommerce.kit.db import Database, Row
from activecommerce.kit.security import key_hash
from activecommerce.oauth import repository as repo
from activecommerce.oauth.service import (
    ACCESS_PREFIX,
    REFRESH_PREFIX,
    Client,
    new_access_token,
    new_refresh_token,
)

T = TypeVar("T")

GRANT_TYPES = ["authorization_code", "refresh_token", "client_credentials"]
AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
# What a member (not an owner) may not grant an app: managing webhooks.
OWNER_ONLY_SCOPES = frozenset({"webhooks:write"})

_loop: contextvars.ContextVar[asyncio.AbstractEventLoop] = contextvars.ContextVar("oauth_loop")


def _wait(work: Awaitable[T]) -> T:
    """From authlib's thread: run `work` on the event loop and wait for its result."""

    async def run() -> T:
        return await work

    return asyncio.run_coroutine_threadsafe(run(), _loop.get()).result(timeout=60)


# ---------------------------------------------------------------- requests and responses


class _Payload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._datalist: dict[str, list[str]] = {}
        for key, value in pairs:
            self._datalist.setdefault(key, []).append(value)
        self._data = {key: values[0] for key, values in self._datalist.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> dict[str, list[str]]:
        return self._datalist


class StarletteOAuth2Request(OAuth2Request):  # type: ignore[misc]
    """A request read whole beforehand (query and urlencoded form), so that authlib's
    thread never touches the ASGI connection."""

    def __init__(
        self,
        method: str,
        uri: str,
        headers: Any,
        query: list[tuple[str, str]],
        form: list[tuple[str, str]],
    ) -> None:
        super().__init__(method=method, uri=uri, headers=headers)
        self._args = dict(query[::-1])  # the first value of each name
        self._form = dict(form[::-1])
        self.payload = _Payload(query + form)

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


@dataclass(frozen=True, slots=True)
class Answer:
    """authlib's (status, body, headers), for the HTTP layer to send."""

    status: int
    body: Any
    headers: list[tuple[str, str]]

    @property
    def location(self) -> str | None:
        return next((v for k, v in self.headers if k.lower() == "location"), None)


# ---------------------------------------------------------------- what authlib stores


@dataclass(frozen=True, slots=True)
class GrantUser:
    """Who granted: a user, in the account they chose (their role in it)."""

    user_id: int
    account_id: int
    role: str = "owner"
    grant_id: int | None = None

    def get_user_id(self) -> int:
        return self.user_id


@dataclass(frozen=True, slots=True)
class CodeRecord:
    pk: int
    client_pk: int
    user_id: int
    account_id: int
    redirect_uri: str | None
    scope: str
    code_challenge: str | None
    code_challenge_method: str | None

    def get_redirect_uri(self) -> str | None:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


@dataclass(frozen=True, slots=True)
class TokenRecord:
    pk: int
    client_pk: int
    account_id: int
    env: str
    user_id: int | None
    grant_id: int | None
    scope: str
    is_refresh: bool

    @classmethod
    def from_row(cls, row: Row, is_refresh: bool) -> TokenRecord:
        return cls(
            int(row["id"]),
            int(row["client_pk"]),
            int(row["account_id"]),
            row["env"],
            None if row["user_id"] is None else int(row["user_id"]),
            None if row["grant_id"] is None else int(row["grant_id"]),
            row["scope"],
            is_refresh,
        )

    def check_client(self, client: Client) -> bool:
        return client.pk == self.client_pk

    def get_scope(self) -> str:
        return self.scope

    def is_revoked(self) -> bool:
        return False


# ---------------------------------------------------------------- grants


class _ClientScopes:
    """A scope the client was not registered for is refused (invalid_scope), not
    silently dropped."""

    request: OAuth2Request

    def validate_requested_scope(self) -> None:
        requested = parse_scopes(self.request.payload.scope)
        client = self.request.client
        if any(s not in SCOPES for s in requested):
            raise InvalidScopeError(description="Unknown scope.")
        if client is not None and not set(requested) <= client.scopes:
            raise InvalidScopeError(description="The client may not ask for this scope.")


class S256Challenge(CodeChallenge):  # type: ignore[misc]
    """PKCE with S256 only; required of public clients."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]  # noqa: RUF012 - authlib's class attribute

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if grant.request.client.public and not data.get("code_challenge"):
            raise InvalidRequestError("A public client must send 'code_challenge' (S256).")
        if data.get("code_challenge") and data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("'code_challenge_method' must be S256.")
        super().validate_code_challenge(grant, redirect_uri)


class CodeGrant(_ClientScopes, AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    server: OAuthServer

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        user: GrantUser = request.user
        client: Client = request.client
        scopes = parse_scopes(request.scope)
        if user.role != "owner":
            scopes = [s for s in scopes if s not in OWNER_ONLY_SCOPES]
        data = request.payload.data
        stamp = now()

        async def save() -> None:
            async with self.server.db.transaction() as conn:
                await repo.insert_code(
                    conn,
                    account_id=user.account_id,
                    env=client.env,
                    client_pk=client.pk,
                    user_id=user.user_id,
                    code_hash=self.server.hash(code),
                    redirect_uri=request.payload.redirect_uri,
                    scope=" ".join(scopes),
                    code_challenge=data.get("code_challenge"),
                    code_challenge_method=data.get("code_challenge_method"),
                    expires_at=after(self.server.code_seconds),
                    created_at=stamp,
                )

        _wait(save())

    def query_authorization_code(self, code: str, client: Client) -> CodeRecord | None:
        if not code or len(code) > 200:
            return None

        async def find() -> CodeRecord | None:
            db = self.server.db
            row = await repo.system_find_code(db, self.server.hash(code))
            if row is None or int(row["client_pk"]) != client.pk:
                return None
            if row["used_at"] is not None:
                # Used before: whoever holds it is not the client alone. Revoke what
                # it gave (RFC 6749 §4.1.2).
                async with db.transaction() as conn:
                    tenant = (int(row["account_id"]), row["env"])
                    await repo.revoke_grant(conn, tenant, int(row["id"]), now())
                return None
            if row["expires_at"] <= now():
                return None
            # Claimed only with the token it gives (OAuthServer.save_token): a request
            # refused after this (a wrong verifier or redirect URI) uses nothing up.
            return CodeRecord(
                int(row["id"]),
                int(row["client_pk"]),
                int(row["user_id"]),
                int(row["account_id"]),
                row["redirect_uri"],
                row["scope"],
                row["code_challenge"],
                row["code_challenge_method"],
            )

        return _wait(find())

    def delete_authorization_code(self, authorization_code: CodeRecord) -> None:
        pass  # claimed (used_at) with the token it gave: it cannot be used again

    def authenticate_user(self, authorization_code: CodeRecord) -> GrantUser:
        return GrantUser(
            authorization_code.user_id,
            authorization_code.account_id,
            grant_id=authorization_code.pk,
        )

    def generate_authorization_code(self) -> str:
        import secrets

        return secrets.token_urlsafe(32)


class RefreshGrant(_ClientScopes, RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotation

    server: OAuthServer

    def authenticate_refresh_token(self, refresh_token: str) -> TokenRecord | None:
        if not refresh_token.startswith(REFRESH_PREFIX) or len(refresh_token) > 200:
            return None
        client: Client = self.request.client

        async def find() -> TokenRecord | None:
            db = self.server.db
            row = await repo.system_find_by_refresh(db, self.server.hash(refresh_token))
            if row is None or int(row["client_pk"]) != client.pk:
                return None
            stamp = now()
            if row["refreshed_at"] is not None:
                if row["grant_id"] is not None:
                    # A rotated refresh token came back: someone else holds one of the
                    # grant's tokens. Revoke the whole grant.
                    async with db.transaction() as conn:
                        tenant = (int(row["account_id"]), row["env"])
                        await repo.revoke_grant(conn, tenant, int(row["grant_id"]), stamp)
                return None
            if row["revoked_at"] is not None or (row["refresh_expires_at"] or "") <= stamp:
                return None
            # Claimed only with the token it gives (OAuthServer.save_token): a refresh
            # refused after this (a scope wider than the grant's) uses nothing up.
            return TokenRecord.from_row(row, True)

        return _wait(find())

    def authenticate_user(self, refresh_token: TokenRecord) -> GrantUser | None:
        if refresh_token.user_id is None:
            return None
        return GrantUser(
            refresh_token.user_id, refresh_token.account_id, grant_id=refresh_token.grant_id
        )

    def revoke_old_credential(self, refresh_token: TokenRecord) -> None:
        pass  # claimed with the new token (OAuthServer.save_token)


class CredentialsGrant(_ClientScopes, ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]  # noqa: RUF012


class Revocation(RevocationEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = AUTH_METHODS

    server: OAuthServer

    def query_token(self, token_string: str, token_type_hint: str | None) -> TokenRecord | None:
        if len(token_string) > 200:
            return None
        hashed = self.server.hash(token_string)
        if token_string.startswith(REFRESH_PREFIX):
            row = _wait(repo.system_find_by_refresh(self.server.db, hashed))
            return TokenRecord.from_row(row, True) if row else None
        if token_string.startswith(ACCESS_PREFIX):
            row = _wait(repo.system_find_by_access(self.server.db, hashed))
            return TokenRecord.from_row(row, False) if row else None
        return None

    def revoke_token(self, token: TokenRecord, request: OAuth2Request) -> None:
        async def revoke() -> None:
            tenant = (token.account_id, token.env)
            async with self.server.db.transaction() as conn:
                if token.is_refresh and token.grant_id is not None:
                    # RFC 7009 §2.1: a refresh token's revocation ends its grant.
                    await repo.revoke_grant(conn, tenant, token.grant_id, now())
                else:
                    await repo.revoke_token(conn, tenant, token.pk, now())

        _wait(revoke())


# ---------------------------------------------------------------- the server


class OAuthServer(AuthorizationServer):  # type: ignore[misc]
    def __init__(
        self,
        db: Database,
        secret: bytes,
        *,
        issuer: str,
        access_seconds: int,
        refresh_seconds: int,
        code_seconds: int,
    ) -> None:
        super().__init__(scopes_supported=list(SCOPES))
        self.db = db
        self.secret = secret
        self.issuer = issuer.rstrip("/")
        self.access_seconds = access_seconds
        self.refresh_seconds = refresh_seconds
        self.code_seconds = code_seconds
        self.register_grant(CodeGrant, [S256Challenge(required=True)])
        self.register_grant(RefreshGrant)
        self.register_grant(CredentialsGrant)
        self.register_endpoint(Revocation)
        self.register_token_generator("default", self._generate)

    def hash(self, value: str) -> str:
        return key_hash(self.secret, value)

    # -- authlib's integration points

    def query_client(self, client_id: str) -> Client | None:
        if not client_id or len(client_id) > 100:
            return None
        row = _wait(repo.system_find_client(self.db, client_id))
        return Client.from_row(row, self.secret) if row else None

    def _generate(
        self,
        grant_type: str,
        client: Client,
        user: GrantUser | None = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        token: dict[str, Any] = {
            "token_type": "Bearer",
            "access_token": new_access_token(),
            "expires_in": expires_in or self.access_seconds,
            "scope": client.get_allowed_scope(scope)
            if grant_type == "client_credentials"
            else scope or "",
        }
        if include_refresh_token and user is not None:
            token["refresh_token"] = new_refresh_token()
        return token

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        """The new token, and in the same transaction the claim of the code or refresh
        token it was issued for (a conditional UPDATE): once every check has passed, so
        that a refused request uses nothing up, and decided by the database, so that of
        two racing requests one only gets a token (the other revokes the grant, as a
        reuse)."""
        client: Client = request.client
        user: GrantUser | None = request.user
        code: CodeRecord | None = request.authorization_code
        used: TokenRecord | None = request.refresh_token
        stamp = now()
        refresh = token.get("refresh_token")

        async def save() -> bool:
            async with self.db.transaction() as conn:
                if code is not None:
                    tenant = (code.account_id, client.env)
                    if not await repo.claim_code(conn, tenant, code.pk, stamp):
                        await repo.revoke_grant(conn, tenant, code.pk, stamp)
                        return False
                if used is not None:
                    tenant = (used.account_id, used.env)
                    if not await repo.claim_refresh(conn, tenant, used.pk, stamp):
                        if used.grant_id is not None:
                            await repo.revoke_grant(conn, tenant, used.grant_id, stamp)
                        return False
                await repo.insert_token(
                    conn,
                    account_id=user.account_id if user else client.account_id,
                    env=client.env,
                    client_pk=client.pk,
                    user_id=user.user_id if user else None,
                    grant_id=user.grant_id if user else None,
                    access_hash=self.hash(token["access_token"]),
                    refresh_hash=self.hash(refresh) if refresh else None,
                    scope=token["scope"],
                    expires_at=after(token["expires_in"]),
                    refresh_expires_at=after(self.refresh_seconds) if refresh else None,
                    created_at=stamp,
                )
                return True

        if not _wait(save()):
            raise InvalidGrantError()

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        pass

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        assert isinstance(request, StarletteOAuth2Request)
        return request

    def handle_response(self, status: int, body: Any, headers: Any) -> Answer:
        return Answer(status, body, list(headers or []))

    # -- run from the event loop

    async def run(self, call: Any, *args: Any, **kwargs: Any) -> Any:
        """Call into authlib in a thread, its storage callbacks back on this loop."""
        token = _loop.set(asyncio.get_running_loop())
        try:
            ctx = contextvars.copy_context()
            return await asyncio.to_thread(ctx.run, call, *args, **kwargs)
        finally:
            _loop.reset(token)

    def metadata(self) -> dict[str, Any]:
        base = self.issuer
        return {
            "issuer": base,
            "authorization_endpoint": f"{base}/oauth/authorize",
            "token_endpoint": f"{base}/oauth/token",
            "revocation_endpoint": f"{base}/oauth/revoke",
            "scopes_supported": list(SCOPES),
            "response_types_supported": ["code"],
            "grant_types_supported": GRANT_TYPES,
            "token_endpoint_auth_methods_supported": AUTH_METHODS,
            "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
            "code_challenge_methods_supported": ["S256"],
            "service_documentation": f"{base}/docs",
        }
