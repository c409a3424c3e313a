"""API keys of the caller's account and environment."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from activecommerce.accounts import service
from activecommerce.accounts.schemas import (
    AccountOut,
    AccountPatch,
    ApiKeyCreated,
    ApiKeyIn,
    ApiKeyOut,
)
from activecommerce.api.routes import (
    COMMON_ERRORS,
    JSON_BODY,
    IdempotencyKey,
    json_response,
    list_model,
)
from activecommerce.api.secrets import ShownOnce
from activecommerce.auth.deps import CurrentPrincipal
from activecommerce.kit.db import Connection, Database
from activecommerce.kit.pagination import Page, PageSize
from activecommerce.kit.principal import Principal
from activecommerce.kit.problems import Problem, responses
from activecommerce.kit.services import services

router = APIRouter(prefix="/v3/apiKeys", tags=["API keys"])
account_router = APIRouter(prefix="/v3/account", tags=["Account"])
KEYS = ShownOnce("API key", "/v3/apiKeys", "key")


@router.get(
    "",
    response_model=list_model("ApiKey", ApiKeyOut),
    summary="List API keys (prefixes only)",
    operation_id="listApiKeys",
    description="The API keys of this environment: prefixes only, a key is never shown again.",
    responses=responses(*COMMON_ERRORS, 422),
)
async def list_keys(
    request: Request,
    principal: CurrentPrincipal,
    page: Annotated[Page, Query()] = 1,
    pageSize: Annotated[PageSize, Query()] = 20,
) -> Response:
    return await KEYS.list(request, principal, page, pageSize, service.list_keys)


@router.post(
    "",
    status_code=201,
    dependencies=JSON_BODY,
    response_model=ApiKeyCreated,
    summary="Create an API key (the key is shown only in this response)",
    operation_id="createApiKey",
    description="Creates an API key for this environment. The `key` is in this response only"
    " (a replay of the same Idempotency-Key returns it as null); it is stored as an HMAC.",
    responses=responses(*COMMON_ERRORS, 400, 403, 413, 415, 422),
)
async def create_key(
    request: Request,
    principal: CurrentPrincipal,
    body: ApiKeyIn,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    env = body.environment or principal.env
    if env != principal.env:
        # A sandbox key, often kept in test configuration, must not mint live keys.
        raise Problem(
            403,
            f"A {principal.env} key can create {principal.env} keys only"
            + (
                "; this developer account (plan free) has the sandbox only."
                if principal.plan == "free"
                else "; use a live key or the command line."
            ),
        )

    async def make(conn: Connection, secret: bytes) -> dict[str, Any]:
        return await service.create_key(conn, secret, principal.account_id, env, body.name)

    return await KEYS.create(request, principal, idempotency_key, body, make)


@router.delete(
    "/{id}",
    status_code=204,
    response_class=Response,
    summary="Revoke an API key, at once",
    operation_id="deleteApiKey",
    description="Revokes an API key: requests with it are refused (401) at once.",
    responses=responses(*COMMON_ERRORS, 404),
)
async def revoke_key(id: str, request: Request, principal: CurrentPrincipal) -> Response:
    return await KEYS.delete(id, request, principal, _revoke)


async def _revoke(db: Database, principal: Principal, key_id: int) -> bool:
    return await service.revoke_key(db, key_id, principal.account_id, principal.env)


@account_router.get(
    "",
    response_model=AccountOut,
    summary="The account: its name, plan and default postal address",
    operation_id="getAccount",
    description="The caller's account. `postalAddress` is the default postal address of"
    " marketing email: the footer shows the brand's address, else this one, and a live"
    " campaign or automation needs one of the two.",
    responses=responses(*COMMON_ERRORS),
)
async def get_account(request: Request, principal: CurrentPrincipal) -> Response:
    return json_response(await service.account_of(services(request).db, principal))


@account_router.patch(
    "",
    dependencies=JSON_BODY,
    response_model=AccountOut,
    summary="Change the account's settings (its default postal address)",
    operation_id="updateAccount",
    description="Changes only the fields sent: `postalAddress` (null, or blank, clears it;"
    " a live campaign or automation without a brand address then can't be sent: 422).",
    responses=responses(*COMMON_ERRORS, 400, 413, 415, 422),
)
async def update_account(
    request: Request, principal: CurrentPrincipal, body: AccountPatch
) -> Response:
    changes = body.model_dump(exclude_unset=True)
    return json_response(await service.update_account(services(request).db, principal, changes))
