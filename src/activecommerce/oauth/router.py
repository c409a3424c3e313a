"""OAuth clients of the caller's account and environment (SPEC §7): API keys only (OAuth
tokens are refused by the authentication, auth/scopes.py)."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from activecommerce.api.routes import (
    COMMON_ERRORS,
    JSON_BODY,
    IdempotencyKey,
    idempotent_post,
    json_response,
    list_model,
)
from activecommerce.auth.deps import CurrentPrincipal
from activecommerce.kit.db import Connection
from activecommerce.kit.fields import parse_id
from activecommerce.kit.pagination import Page, PageSize, envelope, offset
from activecommerce.kit.problems import not_found, responses
from activecommerce.kit.services import services
from activecommerce.oauth import repository, service
from activecommerce.oauth.schemas import OAuthClientCreated, OAuthClientIn, OAuthClientOut

router = APIRouter(prefix="/v3/oauthClients", tags=["OAuth clients"])


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
    total, rows = await repository.list_clients(
        services(request).db, principal.account_id, principal.env, pageSize, offset(page, pageSize)
    )
    views = [service.client_view(r) for r in rows]
    for view in views:
        view.pop("clientSecret", None)
    return json_response(envelope(views, page, pageSize, total))


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
    secret = services(request).authenticator.secret

    async def work(conn: Connection) -> tuple[int, dict[str, Any], str | None]:
        created = await service.create_client(
            conn,
            secret,
            account_id=principal.account_id,
            env=principal.env,
            name=body.name,
            scopes=list(body.scopes),
            redirect_uris=list(body.redirectUris),
            public=body.public,
        )
        return 201, created, f"/v3/oauthClients/{created['id']}"

    return await idempotent_post(
        request, principal, idempotency_key, body, work, shown_once=("clientSecret",)
    )


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
    client_pk = parse_id(id)
    if client_pk is None or not await service.delete_client(
        services(request).db, client_pk, principal.account_id, principal.env
    ):
        raise not_found("OAuth client")
    return Response(status_code=204)
