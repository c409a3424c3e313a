"""The authenticated caller of a request, as a FastAPI dependency."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from activecommerce.kit.principal import Principal
from activecommerce.kit.problems import Problem

# Declared for the OpenAPI document (and /docs' Authorize button); both are async and
# cheap, so they cost nothing on the hot path.
api_token_header = APIKeyHeader(name="Api-Token", auto_error=False)
bearer = HTTPBearer(auto_error=False)

UNAUTHORIZED = Problem(
    401,
    "Send a valid API key in the Api-Token header or as Authorization: Bearer.",
    headers={"WWW-Authenticate": 'Bearer realm="activecommerce"'},
)


async def authenticate(
    request: Request,
    token: Annotated[str | None, Depends(api_token_header)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    raw = token or (credentials.credentials if credentials else None)
    if not raw:
        raise UNAUTHORIZED
    principal = await request.app.state.authenticator.authenticate(raw)
    if principal is None:
        raise UNAUTHORIZED
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(authenticate)]
