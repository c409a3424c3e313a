"""The authenticated caller of a request, as a FastAPI dependency; the rate limit is
applied here, where the account is first known."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from activecommerce.accounts.plans import has_live
from activecommerce.kit.principal import Principal
from activecommerce.kit.problems import Problem
from activecommerce.ratelimit.service import Decision

# Declared for the OpenAPI document (and /docs' Authorize button); both are async and
# cheap, so they cost nothing on the hot path.
api_token_header = APIKeyHeader(name="Api-Token", auto_error=False)
bearer = HTTPBearer(auto_error=False)

RATE_STATE = "ratelimit"


def _too_many(decision: Decision) -> Problem:
    return Problem(
        429,
        f"Rate limit of {decision.limit} requests per second exceeded; retry after "
        f"{decision.retry_after} s.",
        headers={"Retry-After": str(decision.retry_after)},
    )


async def _refuse(request: Request) -> Problem:
    """401 for a missing or unknown key, counted against the client's address."""
    decision = await request.app.state.limiter.hit_address(_address(request))
    if decision is not None:
        request.state.ratelimit = decision
        if not decision.allowed:
            return _too_many(decision)
    return Problem(
        401,
        "Send a valid API key in the Api-Token header or as Authorization: Bearer.",
        headers={"WWW-Authenticate": 'Bearer realm="activecommerce"'},
    )


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def authenticate(
    request: Request,
    token: Annotated[str | None, Depends(api_token_header)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    limiter = request.app.state.limiter
    blocked = await limiter.address_blocked(_address(request))
    if blocked is not None:
        request.state.ratelimit = blocked
        raise _too_many(blocked)
    raw = token or (credentials.credentials if credentials else None)
    if not raw:
        raise await _refuse(request)
    principal = await request.app.state.authenticator.authenticate(raw)
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
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(authenticate)]
