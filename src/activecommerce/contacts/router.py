from typing import Annotated, Literal

from fastapi import Path, Query, Request
from starlette.responses import Response

from activecommerce.auth.deps import CurrentPrincipal
from activecommerce.contacts.service import (
    Membership,
    contact_group_membership,
    contact_tag_membership,
    contacts,
)
from activecommerce.kit.problems import responses
from activecommerce.kit.routes import MAX_PAGE, crud_router, json_response, list_model

router = crud_router(contacts, "Contacts")

SortBy = Literal["createdAt", "updatedAt", "name"]


def _membership_routes(membership: Membership, segment: str, id_name: str) -> None:
    item = membership.target.out_model
    kind = membership.target.title

    @router.get(
        f"/{{id}}/{segment}",
        response_model=list_model(f"Contact{segment.title()}", item),
        summary=f"List a contact's {segment}",
        operation_id=f"list_contact_{segment}",
        responses=responses(401, 404, 422, 429),
    )
    async def list_members(
        id: str,
        request: Request,
        principal: CurrentPrincipal,
        page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
        pageSize: Annotated[int, Query(ge=1, le=100)] = 20,
        sortBy: Annotated[SortBy, Query()] = "createdAt",
        sortOrder: Annotated[Literal["asc", "desc"], Query()] = "asc",
    ) -> Response:
        result = await membership.list_for(
            request.app.state.db,
            principal,
            id,
            page=page,
            page_size=pageSize,
            sort_by=sortBy,
            sort_order=sortOrder,
        )
        return json_response(result)

    @router.put(
        f"/{{id}}/{segment}/{{{id_name}}}",
        status_code=204,
        response_class=Response,
        summary=f"Add a {kind} to a contact",
        operation_id=f"add_contact_{segment[:-1]}",
        responses=responses(401, 404, 429),
    )
    async def add_member(
        id: str,
        target_id: Annotated[str, Path(alias=id_name)],
        request: Request,
        principal: CurrentPrincipal,
    ) -> Response:
        async with request.app.state.db.transaction() as conn:
            await membership.add(conn, principal, id, target_id)
        return Response(status_code=204)

    @router.delete(
        f"/{{id}}/{segment}/{{{id_name}}}",
        status_code=204,
        response_class=Response,
        summary=f"Remove a {kind} from a contact",
        operation_id=f"remove_contact_{segment[:-1]}",
        responses=responses(401, 404, 429),
    )
    async def remove_member(
        id: str,
        target_id: Annotated[str, Path(alias=id_name)],
        request: Request,
        principal: CurrentPrincipal,
    ) -> Response:
        async with request.app.state.db.transaction() as conn:
            await membership.remove(conn, principal, id, target_id)
        return Response(status_code=204)


_membership_routes(contact_tag_membership, "tags", "contactTagId")
_membership_routes(contact_group_membership, "groups", "contactGroupId")
