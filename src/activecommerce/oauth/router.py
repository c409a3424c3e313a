"""OAuth clients of the caller's account and environment: API keys only (OAuth tokens
are refused by the authentication, auth/scopes.py)."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from activecommerce.api.routes import COMMON_ERRORS, JSON_BODY, IdempotencyKey, list_model
from activecommerce.api.secrets import ShownOnce
from activecommerce.auth.deps import CurrentPrincipal
from activecommerce.kit.db import Connection
from activecommerce.kit.pagination import Page, PageSize
from activecommerce.kit.problems import responses
from activecommerce.oauth import service
from activecommerce.oauth.schemas import OAuthClientCreated, OAuthClientIn, OAuthClientOut

router = APIRouter(prefix="/v3/oauthClients", tags=["OAuth clients"])
CLIENTS = ShownOnce("OAuth client", "/v3/oauthClients", "clientSecret")


@router.get(
    "",
    response_model=list_model("OAuthClient", OAuthClientOut),
    summary="List OAuth clients (no secrets)",
    operation_id="listOauthClients",
    description="The OAuth clients registered in this environment, without their secrets.",
    responses=responses(*COMMON_ERRORS, 422),
)
async def list_clients(
    request: Request,
    principal: CurrentPrincipal,
    page: Annotated[Page, Query()] = 1,
    pageSize: Annotated[PageSize, Query()] = 20,
) -> Response:
    return await CLIENTS.list(request, principal, page, pageSize, service.list_clients)


@router.post(
    "",
    status_code=201,
    dependencies=JSON_BODY,
    response_model=OAuthClientCreated,
    summary="Register an OAuth client in this environment (the secret is shown only here)",
    operation_id="createOauthClient",
    description="Registers an OAuth client for this environment. `clientSecret` (confidential"
    " clients) is in this response only. OAuth tokens cannot call this (403).",
    responses=responses(*COMMON_ERRORS, 400, 413, 415, 422),
)
async def create_client(
    request: Request,
    principal: CurrentPrincipal,
    body: OAuthClientIn,
    idempotency_key: IdempotencyKey = None,
) -> Response:

    async def make(conn: Connection, secret: bytes) -> dict[str, Any]:
        return await service.create_client(
            conn,
            secret,
            account_id=principal.account_id,
            env=principal.env,
            name=body.name,
            scopes=list(body.scopes),
            redirect_uris=list(body.redirectUris),
            public=body.public,
        )

    return await CLIENTS.create(request, principal, idempotency_key, body, make)


@router.delete(
    "/{id}",
    status_code=204,
    response_class=Response,
    summary="Delete an OAuth client; its tokens stop working at once",
    operation_id="deleteOauthClient",
    description="Deletes an OAuth client; the tokens it was issued stop working at once.",
    responses=responses(*COMMON_ERRORS, 404),
)
async def delete_client(id: str, request: Request, principal: CurrentPrincipal) -> Response:
    return await CLIENTS.delete(id, request, principal, service.delete_client)
