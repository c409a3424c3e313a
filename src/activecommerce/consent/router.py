"""The suppression list (`/v3/suppressions`) and a contact's consent records."""

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
from activecommerce.consent import service
from activecommerce.consent.schemas import (
    ConsentOut,
    SuppressionIn,
    SuppressionOut,
    SuppressionReason,
)
from activecommerce.contacts.service import contacts
from activecommerce.kit.fields import Email
from activecommerce.kit.pagination import DEFAULT_PAGE_SIZE, Cursor, Page, PageSize
from activecommerce.kit.problems import responses
from activecommerce.kit.services import services

router = APIRouter(prefix="/v3/suppressions", tags=["Suppressions"])
consents_router = APIRouter(prefix="/v3/contacts", tags=["Contacts"])

CursorQuery = Annotated[
    Cursor | None,
    Query(
        description="From `meta.nextCursor`: the next page of the same ordering (`page` is"
        " then ignored)"
    ),
]


@router.get(
    "/{id}",
    response_model=SuppressionOut,
    summary="Get a suppression list entry",
    operation_id="getSuppression",
    description="The entry with this id; one of another account or environment is a 404.",
    responses=responses(*COMMON_ERRORS, 404),
)
async def get_suppression(id: str, request: Request, principal: CurrentPrincipal) -> Response:
    return json_response(await service.get_suppression(services(request).db, principal, id))


@router.get(
    "",
    response_model=list_model("Suppression", SuppressionOut),
    summary="List the suppression list",
    operation_id="listSuppressions",
    description="The addresses never to be mailed again, newest first by default. `email`"
    " finds one address (case-insensitively; an erased entry is found by its address and"
    " shows `email: null`).",
    responses=responses(*COMMON_ERRORS, 422),
)
async def list_suppressions(
    request: Request,
    principal: CurrentPrincipal,
    email: Annotated[Email | None, Query(description="An address")] = None,
    reason: Annotated[SuppressionReason | None, Query()] = None,
    page: Annotated[Page, Query(description="Page number, from 1")] = 1,
    pageSize: Annotated[PageSize, Query(description="Items per page")] = DEFAULT_PAGE_SIZE,
    sortOrder: Annotated[str, Query(pattern="^(asc|desc)$")] = "desc",
    cursor: CursorQuery = None,
) -> Response:
    filters: dict[str, Any] = {"email": email, "reason": reason}
    result = await service.list_suppressions(
        services(request).db,
        principal,
        {k: v for k, v in filters.items() if v is not None},
        page=page,
        page_size=pageSize,
        sort_by="createdAt",
        sort_order=sortOrder,
        cursor=cursor,
    )
    return json_response(result)


@router.post(
    "",
    dependencies=JSON_BODY,
    status_code=201,
    response_model=SuppressionOut,
    summary="Add an address to the suppression list",
    operation_id="createSuppression",
    description="A `manual` entry: the address is never mailed again, and its contact, if"
    " `active` or `unconfirmed`, becomes `unsubscribed`. 201 with the new entry; an address"
    " already on the list is a 200 with its existing entry (whatever its reason), and"
    " nothing changes.",
    responses={
        200: {"description": "Already on the list", "model": SuppressionOut},
        **responses(*COMMON_ERRORS, 400, 413, 415, 422),
    },
)
async def create_suppression(
    request: Request,
    principal: CurrentPrincipal,
    body: SuppressionIn,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    async def work(conn: Any) -> tuple[int, dict[str, Any], str | None]:
        entry, new = await service.add_manual(conn, principal, body.email)
        if new:
            return 201, entry, f"/v3/suppressions/{entry['id']}"
        return 200, entry, None

    return await idempotent_post(request, principal, idempotency_key, body, work)


@router.delete(
    "/{id}",
    status_code=204,
    response_class=Response,
    summary="Remove a manual entry from the suppression list",
    operation_id="deleteSuppression",
    description="Only `manual` entries can be removed (204); an unsubscribe, bounce,"
    " complaint or erasure is a 409: only the person can subscribe again. Removing an entry"
    " changes no contact's status.",
    responses=responses(*COMMON_ERRORS, 404, 409),
)
async def delete_suppression(id: str, request: Request, principal: CurrentPrincipal) -> Response:
    async with services(request).db.transaction() as conn:
        await service.remove_manual(conn, principal, id)
    return Response(status_code=204)


@consents_router.get(
    "/{id}/consents",
    response_model=list_model("ContactConsent", ConsentOut),
    summary="List a contact's consent records",
    operation_id="listContactConsents",
    description="Every grant and withdrawal of the contact's consent to be mailed, newest"
    " first, with where it came from (a form: its id, the ip and user agent).",
    responses=responses(*COMMON_ERRORS, 404, 422),
)
async def list_consents(
    id: str,
    request: Request,
    principal: CurrentPrincipal,
    page: Annotated[Page, Query(description="Page number, from 1")] = 1,
    pageSize: Annotated[PageSize, Query(description="Items per page")] = DEFAULT_PAGE_SIZE,
    cursor: CursorQuery = None,
) -> Response:
    db = services(request).db
    contact = await contacts.get_row(db, principal, id)
    result = await service.consents_of(
        db, principal, int(contact["id"]), page=page, page_size=pageSize, cursor=cursor
    )
    return json_response(result)
