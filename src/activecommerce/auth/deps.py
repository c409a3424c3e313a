"""The authenticated caller of a request, as a FastAPI dependency; the rate limit is
applied here, where the account is first known."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any

from fastapi import Depends, Request

from activecommerce.accounts.plans import has_live
from activecommerce.auth.scopes import SCOPES, required_scope
from activecommerce.kit.db import DatabaseUnavailable
from activecommerce.kit.principal import Principal
from activecommerce.kit.problems import Problem, unavailable
from activecommerce.kit.services import Decision, Networks, services
from activecommerce.oauth.service import ACCESS_PREFIX

# The schemes are declared in the OpenAPI document by app._document rather than with
# FastAPI's security dependencies: two more dependencies cost more per request than the
# database read they guard (see docs/decisions/001-database-access.md).
SECURITY_SCHEMES: dict[str, Any] = {
    "ApiToken": {"type": "apiKey", "in": "header", "name": "Api-Token"},
    "Bearer": {"type": "http", "scheme": "bearer"},
    "OAuth2": {
        "type": "oauth2",
        "description": "Tokens of OAuth clients; the server's metadata is at"
        " /.well-known/oauth-authorization-server",
        "flows": {
            "authorizationCode": {
                "authorizationUrl": "/oauth/authorize",
                "tokenUrl": "/oauth/token",
                "refreshUrl": "/oauth/token",
                "scopes": SCOPES,
            },
            "clientCredentials": {"tokenUrl": "/oauth/token", "scopes": SCOPES},
        },
    },
}


def operation_security(path: str, method: str) -> list[dict[str, list[str]]]:
    """An operation's security requirements: a key, or an OAuth token with its scope
    (none for the operations OAuth tokens may not call)."""
    keys: list[dict[str, list[str]]] = [{"ApiToken": []}, {"Bearer": []}]
    scope = required_scope(path, method.upper())
    return keys if scope is None else [*keys, {"OAuth2": [scope]}]


RATE_STATE = "ratelimit"
PRINCIPAL_STATE = "principal"


def _too_many(decision: Decision) -> Problem:
    return Problem(
        429,
        f"Rate limit of {decision.limit} requests per second exceeded; retry after "
        f"{decision.retry_after} s.",
        headers={"Retry-After": str(decision.retry_after)},
    )


async def _refuse(request: Request) -> Problem:
    """401 for a missing or unknown key, counted against the client's address."""
    decision = await services(request).limiter.hit_address(_address(request))
    if decision is not None:
        request.state.ratelimit = decision
        if not decision.allowed:
            return _too_many(decision)
    return Problem(
        401,
        "Send a valid API key in the Api-Token header, or it or an unexpired OAuth access"
        " token as Authorization: Bearer.",
        headers={"WWW-Authenticate": 'Bearer realm="activecommerce"'},
    )


def _trusted(address: str, networks: Networks) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_address(peer: str, forwarded_for: list[bytes], trusted: Networks) -> str:
    """The client's address: the peer's, unless the peer is a trusted proxy
    (ACTIVECOMMERCE_TRUSTED_PROXIES); then X-Forwarded-For is read from the right, and
    the first address that is not a trusted proxy is the client. Entries left of it were
    written by whoever sent the request and are never believed."""
    if not trusted or not _trusted(peer, trusted):
        return peer
    hops = [hop.strip() for value in forwarded_for for hop in value.decode("latin-1").split(",")]
    address = peer
    for hop in reversed(hops):
        if not hop:
            continue
        address = hop[:64]
        if not _trusted(address, trusted):
            break
    return address


def _address(request: Request) -> str:
    peer = request.client.host if request.client else "unknown"
    trusted: Networks = services(request).trusted_proxies
    if not trusted:
        return peer
    forwarded = [value for name, value in request.scope["headers"] if name == b"x-forwarded-for"]
    return client_address(peer, forwarded, trusted)


def client_address_of(request: Request) -> str:
    """The client's address (ACTIVECOMMERCE_TRUSTED_PROXIES applied), for the pages'
    limits."""
    return _address(request)


def _presented_key(request: Request) -> str | None:
    # Read from the raw ASGI headers: building Starlette's Headers for two lookups costs
    # more on the hottest path than the scan.
    token: bytes | None = None
    authorization: bytes | None = None
    for name, value in request.scope["headers"]:
        if name == b"api-token":
            token = value
        elif name == b"authorization":
            authorization = value
    if token:
        return token.decode("latin-1")
    if authorization:
        scheme, _, credentials = authorization.decode("latin-1").partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            return credentials.strip()
    return None


async def authenticate(request: Request) -> Principal:
    # Failed attempts are counted per address (`_refuse`), but they never block a right
    # key: keys carry ~240 random bits, so the address budget bounds what wrong attempts
    # cost us rather than being what keeps keys secret, and an address shared by many
    # clients (or spoofed) must not lock out their valid keys.
    built = services(request)
    limiter = built.limiter
    raw = _presented_key(request)
    if not raw:
        raise await _refuse(request)
    if raw.startswith(ACCESS_PREFIX) and built.tokens is not None:
        principal = await built.tokens.authenticate(raw)  # an OAuth token: the same cost
    else:
        principal = await built.authenticator.authenticate(raw)
    if principal is None:
        raise await _refuse(request)
    decision = await limiter.hit_account(principal.account_id, principal.env, principal.plan)
    if decision is not None:
        request.state.ratelimit = decision
        if not decision.allowed:
            raise _too_many(decision)
    if principal.env == "live" and not has_live(principal.plan):
        raise Problem(
            403,
            "This is a developer account (plan free): it has the sandbox only. "
            "Upgrade the plan to use live keys.",
        )
    if principal.scopes is not None:
        _check_scope(request, principal.scopes)
    request.scope.setdefault("state", {})[PRINCIPAL_STATE] = principal
    return principal


def _check_scope(request: Request, scopes: frozenset[str]) -> None:
    """An OAuth token may make a request only with the scope of its area."""
    needed = required_scope(request.scope["path"], request.scope["method"])
    if needed is None:
        raise Problem(403, "OAuth tokens may not use this endpoint; use an API key of the account.")
    if needed not in scopes:
        raise Problem(
            403,
            f"This token lacks the scope {needed}.",
            headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{needed}"'},
        )


async def authenticate_before_errors(request: Request) -> None:
    """Called by the error handlers for requests that failed before authentication ran
    (malformed JSON is refused while FastAPI reads the body): 401 and 429 come first, and
    the request still counts against the limits."""
    if PRINCIPAL_STATE not in request.scope.get("state", {}):
        try:
            await authenticate(request)
        except DatabaseUnavailable as exc:  # raised inside an error handler: render here
            raise unavailable(exc) from exc


async def count_unrouted(request: Request) -> None:
    """Called for requests no route matched (404, 405): without a key, counted against
    the address's budget (429 when over it); with one, authenticated like any request
    (401 for a wrong key, counted per address; a right one counts against its account)."""
    if _presented_key(request) is None:
        decision = await services(request).limiter.hit_address(_address(request))
        if decision is not None:
            request.state.ratelimit = decision
            if not decision.allowed:
                raise _too_many(decision)
        return
    await authenticate_before_errors(request)


CurrentPrincipal = Annotated[Principal, Depends(authenticate)]
