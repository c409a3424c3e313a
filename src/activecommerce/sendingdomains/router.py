"""`/v3/sendingDomains`: the domains an account sends from, their DNS records, and their
verification."""

from typing import Annotated, Any, Literal

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
from activecommerce.kit.pagination import DEFAULT_PAGE_SIZE, Cursor, Page, PageSize
from activecommerce.kit.problems import responses
from activecommerce.kit.services import services
from activecommerce.sendingdomains import service
from activecommerce.sendingdomains.schemas import SendingDomainIn, SendingDomainOut

router = APIRouter(prefix="/v3/sendingDomains", tags=["Sending domains"])


@router.get(
    "/{id}",
    response_model=SendingDomainOut,
    summary="Get a sending domain",
    operation_id="getSendingDomain",
    description="The domain with its DNS records and the state its last verification"
    " found. One of another account or environment is a 404.",
    responses=responses(*COMMON_ERRORS, 404),
)
async def get_domain(id: str, request: Request, principal: CurrentPrincipal) -> Response:
    state = services(request)
    return json_response(await service.get(state.db, principal, state.settings, id))


@router.get(
    "",
    response_model=list_model("SendingDomain", SendingDomainOut),
    summary="List sending domains",
    operation_id="listSendingDomains",
    description="The sending domains of this account and environment, a page at a time.",
    responses=responses(*COMMON_ERRORS, 422),
)
async def list_domains(
    request: Request,
    principal: CurrentPrincipal,
    page: Annotated[Page, Query(description="Page number, from 1")] = 1,
    pageSize: Annotated[PageSize, Query(description="Items per page")] = DEFAULT_PAGE_SIZE,
    sortBy: Annotated[Literal["createdAt", "updatedAt", "domain"], Query()] = "createdAt",
    sortOrder: Annotated[Literal["asc", "desc"], Query()] = "asc",
    cursor: Annotated[
        Cursor | None,
        Query(description="From `meta.nextCursor`: the next page of the same ordering"),
    ] = None,
) -> Response:
    state = services(request)
    result = await service.list_domains(
        state.db,
        principal,
        state.settings,
        page=page,
        page_size=pageSize,
        sort_by=sortBy,
        sort_order=sortOrder,
        cursor=cursor,
    )
    return json_response(result)


@router.post(
    "",
    dependencies=JSON_BODY,
    status_code=201,
    response_model=SendingDomainOut,
    summary="Add a sending domain",
    operation_id="createSendingDomain",
    description="Makes the domain's DKIM key pair (RSA 2048; the private key is stored"
    " encrypted and never shown) and answers 201 with the DNS records to publish: DKIM,"
    " SPF, DMARC and, when a bounce domain is configured, the return path. The domain is"
    " `pending` until a verification finds its DKIM record. A domain the account and"
    " environment already has is a 409.",
    responses=responses(*COMMON_ERRORS, 400, 409, 413, 415, 422),
)
async def create_domain(
    request: Request,
    principal: CurrentPrincipal,
    body: SendingDomainIn,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    state = services(request)
    made: list[service.NewKey] = []

    async def check() -> None:
        # The key pair is made before the transaction opens (CPU, in a thread).
        made.append(await service.new_key(state.box))

    async def work(conn: Connection) -> tuple[int, dict[str, Any], str | None]:
        domain = await service.create(conn, principal, state.settings, body.domain, made[0])
        return 201, domain, f"/v3/sendingDomains/{domain['id']}"

    return await idempotent_post(request, principal, idempotency_key, body, work, check=check)


@router.post(
    "/{id}/verify",
    response_model=SendingDomainOut,
    summary="Verify a sending domain's DNS records",
    operation_id="verifySendingDomain",
    description="Looks each record up in DNS (through `ACTIVECOMMERCE_DNS_SERVERS`) and"
    " records whether it is found, missing or wrong; the domain is `verified` while its"
    " DKIM record is found, `pending` otherwise. When DNS does not answer a lookup"
    " (timeout, SERVFAIL), nothing is recorded: 503 with Retry-After.",
    responses=responses(*COMMON_ERRORS, 404, 503),
)
async def verify_domain(id: str, request: Request, principal: CurrentPrincipal) -> Response:
    state = services(request)
    return json_response(await service.verify(state.db, principal, state.settings, id))


@router.delete(
    "/{id}",
    status_code=204,
    response_class=Response,
    summary="Delete a sending domain",
    operation_id="deleteSendingDomain",
    description="Deletes the domain and its key (204): mail from it is no longer signed."
    " A second delete is a 404.",
    responses=responses(*COMMON_ERRORS, 404),
)
async def delete_domain(id: str, request: Request, principal: CurrentPrincipal) -> Response:
    async with services(request).db.transaction() as conn:
        await service.delete(conn, principal, id)
    return Response(status_code=204)
