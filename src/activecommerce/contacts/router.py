from collections.abc import Awaitable, Callable
from typing import Annotated, Literal

from fastapi import Path, Query, Request
from starlette.responses import Response

from activecommerce.api.routes import crud_router, json_response, list_model
from activecommerce.auth.deps import CurrentPrincipal
from activecommerce.contacts.service import (
    Membership,
    contact_group_membership,
    contact_tag_membership,
    contacts,
)
from activecommerce.kit.pagination import Page, PageSize
from activecommerce.kit.problems import responses
from activecommerce.kit.services import services

router = crud_router(contacts, "Contacts")

SortBy = Literal["createdAt", "updatedAt", "name"]


def _membership_routes(
    membership: Membership, segment: str, id_name: str, add: str, remove: str
) -> None:
    """A contact's tags or groups: the list, and PUT / DELETE of one membership
    (operation ids `add` and `remove`, e.g. addContactTag / removeContactTag)."""
    item = membership.target.out_model
    kind = membership.target.title

    @router.get(
        f"/{{id}}/{segment}",
        response_model=list_model(f"Contact{segment.title()}", item),
        summary=f"List a contact's {segment}",
        operation_id=f"list{segment.title()}OfContact",
        description=f"The {kind}s this contact has, in the list envelope (paginated).",
        responses=responses(401, 403, 404, 422, 429),
    )
    async def list_members(
        id: str,
        request: Request,
        principal: CurrentPrincipal,
        page: Annotated[Page, Query()] = 1,
        pageSize: Annotated[PageSize, Query()] = 20,
        sortBy: Annotated[SortBy, Query()] = "createdAt",
        sortOrder: Annotated[Literal["asc", "desc"], Query()] = "asc",
    ) -> Response:
        result = await membership.list_for(
            services(request).db,
            principal,
            id,
            page=page,
            page_size=pageSize,
            sort_by=sortBy,
            sort_order=sortOrder,
        )
        return json_response(result)

    for method, change, summary, operation, description in (
        (
            "PUT",
            membership.add,
            f"Add a {kind} to a contact",
            add,
            "Idempotent: 204 whether or not the contact already had it.",
        ),
        (
            "DELETE",
            membership.remove,
            f"Remove a {kind} from a contact",
            remove,
            "Idempotent: 204 whether or not the contact had it.",
        ),
    ):
        router.add_api_route(
            f"/{{id}}/{segment}/{{{id_name}}}",
            _membership_change(change, id_name),
            methods=[method],
            status_code=204,
            response_class=Response,
            summary=summary,
            operation_id=operation,
            description=description,
            responses=responses(401, 403, 404, 429),
        )


def _membership_change(
    change: Callable[..., Awaitable[None]], id_name: str
) -> Callable[..., Awaitable[Response]]:
    """PUT and DELETE of one membership: idempotent, 204 whether or not it existed."""

    async def handler(
        id: str,
        target_id: Annotated[str, Path(alias=id_name)],
        request: Request,
        principal: CurrentPrincipal,
    ) -> Response:
        async with services(request).db.transaction() as conn:
            await change(conn, principal, id, target_id)
        return Response(status_code=204)

    return handler


_membership_routes(
    contact_tag_membership, "tags", "contactTagId", "addContactTag", "removeContactTag"
)
_membership_routes(
    contact_group_membership,
    "groups",
    "contactGroupId",
    "addContactToGroup",
    "removeContactFromGroup",
)
