from typing import Annotated, Literal, get_args

from fastapi import Query, Request
from starlette.responses import Response

from activecommerce.api.routes import (
    COMMON_ERRORS,
    JSON_BODY,
    crud_router,
    json_response,
    list_model,
)
from activecommerce.auth.deps import CurrentPrincipal
from activecommerce.contacts.schemas import ContactOut
from activecommerce.contacts.service import contacts
from activecommerce.kit.pagination import DEFAULT_PAGE_SIZE, Cursor, Page, PageSize
from activecommerce.kit.problems import responses
from activecommerce.kit.services import services
from activecommerce.segments import service
from activecommerce.segments.schemas import SegmentPreviewIn, SegmentPreviewOut

router = crud_router(service.segments, "Segments")

# The contacts list's sorts (contacts.sortable).
ContactSort = Literal["createdAt", "updatedAt", "email", "firstName", "lastName"]
assert set(get_args(ContactSort)) == set(contacts.sortable)


@router.post(
    "/preview",
    dependencies=JSON_BODY,
    response_model=SegmentPreviewOut,
    summary="Preview a segment's conditions: a count and ten contacts",
    operation_id="previewSegment",
    description="Checks `conditions` as a segment's (a 422 names a mistake:"
    " `conditions.all.2.value`) and answers how many contacts they match, of every status,"
    " exactly, and up to ten of them, the newest first. Nothing is saved: a read, safe to"
    " send again.",
    responses=responses(*COMMON_ERRORS, 400, 413, 415, 422),
)
async def preview_segment(
    request: Request, principal: CurrentPrincipal, body: SegmentPreviewIn
) -> Response:
    db = services(request).db
    return json_response(await service.preview(db, principal, body.conditions))


@router.get(
    "/{id}/contacts",
    response_model=list_model("SegmentContact", ContactOut),
    summary="List the contacts a segment matches",
    operation_id="listSegmentContacts",
    description="The contacts the segment's conditions match now (of every status), with"
    " the contacts list's paging, sorting and cursor; `meta.total` is exact. The same as"
    " `GET /v3/contacts?segmentId=`, but an unknown segment is a 404 here.",
    responses=responses(*COMMON_ERRORS, 404, 422),
)
async def list_segment_contacts(
    id: str,
    request: Request,
    principal: CurrentPrincipal,
    page: Annotated[Page, Query(description="Page number, from 1")] = 1,
    pageSize: Annotated[PageSize, Query(description="Items per page")] = DEFAULT_PAGE_SIZE,
    sortBy: Annotated[ContactSort, Query()] = "createdAt",
    sortOrder: Annotated[Literal["asc", "desc"], Query()] = "asc",
    cursor: Annotated[
        Cursor | None,
        Query(
            description="From `meta.nextCursor`: the next page of the same ordering (`page`,"
            " `sortBy` and `sortOrder` are then ignored)"
        ),
    ] = None,
) -> Response:
    result = await service.contacts_of(
        services(request).db,
        principal,
        id,
        page=page,
        page_size=pageSize,
        sort_by=sortBy,
        sort_order=sortOrder,
        cursor=cursor,
    )
    return json_response(result)
