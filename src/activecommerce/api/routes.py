"""HTTP for a Resource: the six operations of a collection (get, list, create, replace,
update, delete), documented in OpenAPI. The writes go through `kit/writes.py`, the flow
the console runs too.

Handlers are `async def` and return the encoded JSON themselves (the response models are
declared for the document only), because FastAPI's response validation and a thread-pool
hop each cost more than the database read (see docs/decisions/001-database-access.md).
"""

# No `from __future__ import annotations` here: FastAPI reads the handlers' annotations,
# and these handlers are closures over per-resource models.
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Header, Query, Request
from pydantic import BaseModel, ConfigDict, create_model
from pydantic import Field as PydanticField
from starlette.responses import Response, StreamingResponse

from activecommerce.auth.deps import CurrentPrincipal, authenticate
from activecommerce.kit import idempotency, writes
from activecommerce.kit.pagination import DEFAULT_PAGE_SIZE, Cursor, Page, PageQuery, PageSize
from activecommerce.kit.principal import Principal
from activecommerce.kit.problems import Problem, is_json_content_type, responses
from activecommerce.kit.resource import Resource
from activecommerce.kit.services import services

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Send the same key again to get the first response back (24 h).",
    ),
]


class PageMeta(BaseModel):
    page: int | None = PydanticField(description="null when the page was reached by cursor")
    pageSize: int
    total: int
    totalPages: int
    totalExact: bool = PydanticField(
        True, description="false when `total` is a lower bound (a text search)"
    )
    nextCursor: str | None = PydanticField(
        None,
        description="Pass as `cursor` for the next page; null on the last page (lists of"
        " collections; the others page by number only)",
    )


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(body), status_code=status, media_type="application/json", headers=headers
    )


def list_model(name: str, item: type[BaseModel]) -> type[BaseModel]:
    items: Any = list[item]  # type: ignore[valid-type]
    return create_model(f"{name}List", data=(items, ...), meta=(PageMeta, ...))


def list_query_model(resource: Resource, name: str) -> type[BaseModel]:
    sort_fields = tuple(resource.sortable)
    definitions: dict[str, Any] = {
        "page": (Page, PydanticField(1, description="Page number, from 1")),
        "pageSize": (PageSize, PydanticField(DEFAULT_PAGE_SIZE, description="Items per page")),
        "sortBy": (Literal[sort_fields], PydanticField("createdAt")),
        "sortOrder": (Literal["asc", "desc"], PydanticField("asc")),
        "cursor": (
            Cursor | None,
            PydanticField(
                None,
                description="From `meta.nextCursor`: the next page of the same ordering, in"
                " constant time (`page`, `sortBy` and `sortOrder` are then ignored)",
            ),
        ),
    }
    for flt in resource.filters:
        definitions[flt.name] = (
            flt.annotation | None,
            PydanticField(None, description=flt.description or None),
        )
    return create_model(
        f"{name}ListQuery",
        __config__=ConfigDict(extra="ignore"),
        **definitions,
    )


def page_params(query: BaseModel) -> PageQuery:
    """A list's query parameters (a `list_query_model`) as `ListQuery.page` takes them."""
    values = query.model_dump()
    return {
        "page": values.pop("page"),
        "page_size": values.pop("pageSize"),
        "sort_by": values.pop("sortBy"),
        "sort_order": values.pop("sortOrder"),
        "cursor": values.pop("cursor"),
        "filters": values,
    }


async def idempotent_post(
    request: Request,
    principal: Principal,
    key: str | None,
    body: BaseModel | None,
    work: idempotency.Work,
    shown_once: tuple[str, ...] = (),
    check: idempotency.Check | None = None,
) -> Response:
    """Every POST goes through here: with an Idempotency-Key, a retry gets the first
    response back (docs/guides/idempotency.md), except the `shown_once` fields (a new
    secret), which a replay returns as null."""
    sent = body.model_dump(mode="json", exclude_unset=True) if body is not None else None
    fingerprint = idempotency.request_hash(request.url.path, sent)
    state = services(request)
    return await idempotency.run(
        state.db, state.box, principal, key, fingerprint, work, shown_once=shown_once, check=check
    )


COMMON_ERRORS = (401, 403, 429)


async def require_json(request: Request, _principal: CurrentPrincipal) -> None:
    """415 unless the body is declared as JSON (after authentication, before the body is
    validated)."""
    if not is_json_content_type(request.headers.get("content-type")):
        raise Problem(415, "Send the body as application/json.")


JSON_BODY = [Depends(require_json)]


def crud_router(resource: Resource, tag: str) -> APIRouter:
    router = APIRouter(prefix=f"/v3/{resource.collection}", tags=[tag])
    name = resource.out_model.__name__.removesuffix("Out")
    ListOut = list_model(name, resource.out_model)
    Query_ = list_query_model(resource, name)
    Create = resource.create_model
    Patch = resource.patch_model
    title = resource.title
    shown_once = resource.shown_once
    # Operation ids as a generator wants them: getContact, listContacts, createContact...
    one = resource.event_name[0].upper() + resource.event_name[1:]
    many = resource.collection[0].upper() + resource.collection[1:]
    plural = f"`{resource.collection}`"

    @router.get(
        "/{id}",
        response_model=resource.out_model,
        summary=f"Get a {title}",
        operation_id=f"get{one}",
        description=f"The {title} with this id. An unknown or malformed id, or one of another"
        " account or environment, is a 404.",
        responses=responses(*COMMON_ERRORS, 404),
    )
    async def get_object(id: str, request: Request) -> Response:
        # The hottest path of the API: registered first (routes match in order), and it
        # authenticates in the handler rather than through a dependency, since nothing
        # here can fail first (a path id is any text) and FastAPI's dependency solving
        # costs ~9 µs of a ~90 µs request (decision 001).
        principal = await authenticate(request)
        db = services(request).db
        row = await resource.get_row(db, principal, id)
        return json_response(await resource.present_row(db, principal, row))

    @router.get(
        "",
        response_model=ListOut,
        summary=f"List {resource.collection}",
        operation_id=f"list{many}",
        description=f"The {plural} of this account and environment, a page at a time, sorted by"
        " `sortBy` (ties broken by id). Walk every page with `cursor` set to the previous"
        " page's `meta.nextCursor` (null on the last page); a page past the end is empty.",
        responses=responses(*COMMON_ERRORS, 422),
    )
    async def list_objects(
        request: Request,
        principal: CurrentPrincipal,
        query: Annotated[Query_, Query()],  # type: ignore[valid-type]
    ) -> Response:
        db = services(request).db
        if resource.stream_lists:
            chunks = await resource.stream_rows(db, principal, **page_params(query))
            return StreamingResponse(chunks, media_type="application/json")
        result = await resource.list_rows(db, principal, **page_params(query))
        return json_response(result)

    @router.post(
        "",
        dependencies=JSON_BODY,
        status_code=201,
        response_model=resource.created_model or resource.out_model,
        summary=f"Create a {title}",
        operation_id=f"create{one}",
        description=f"Creates a {title} and answers 201 with it and a `Location` header. With"
        " an `Idempotency-Key`, a retry within 24 h gets the first response back"
        " (`Idempotent-Replayed: true`) and creates nothing more.",
        responses=responses(*COMMON_ERRORS, 400, 409, 413, 415, 422),
    )
    async def create_object(
        request: Request,
        principal: CurrentPrincipal,
        body: Create,  # type: ignore[valid-type]
        idempotency_key: IdempotencyKey = None,
    ) -> Response:
        async def check() -> None:
            await writes.check(resource, principal, body)

        async def work(conn: Any) -> tuple[int, dict[str, Any], str | None]:
            created = await resource.create(conn, principal, body)
            return 201, created, resource.location(created["id"])

        return await idempotent_post(
            request, principal, idempotency_key, body, work, shown_once=shown_once, check=check
        )

    @router.put(
        "/{id}",
        dependencies=JSON_BODY,
        response_model=resource.out_model,
        summary=f"Replace a {title}",
        operation_id=f"replace{one}",
        description=f"Replaces every writable field of a {title}: a required field left out is"
        " a 422; an optional one left out goes back to its default, or null.",
        responses=responses(*COMMON_ERRORS, 400, 404, 409, 413, 415, 422),
    )
    async def replace_object(
        id: str,
        request: Request,
        principal: CurrentPrincipal,
        body: Create,  # type: ignore[valid-type]
    ) -> Response:
        db = services(request).db
        return json_response(await writes.replace(db, resource, principal, id, body))

    @router.patch(
        "/{id}",
        dependencies=JSON_BODY,
        response_model=resource.out_model,
        summary=f"Update part of a {title}",
        operation_id=f"update{one}",
        description=f"Changes only the fields sent of a {title}; `null` clears an optional"
        " field without a default (and is a 422 for one that has a default).",
        responses=responses(*COMMON_ERRORS, 400, 404, 409, 413, 415, 422),
    )
    async def patch_object(
        id: str,
        request: Request,
        principal: CurrentPrincipal,
        body: Patch,  # type: ignore[valid-type]
    ) -> Response:
        db = services(request).db
        return json_response(await writes.patch(db, resource, principal, id, body))

    @router.delete(
        "/{id}",
        status_code=204,
        response_class=Response,
        summary=f"Delete a {title}",
        operation_id=f"delete{one}",
        description=f"Deletes a {title} (204); a second delete is a 404. A delete that another"
        " object still needs is a 409 naming it.",
        responses=responses(*COMMON_ERRORS, 404, 409),
    )
    async def delete_object(id: str, request: Request, principal: CurrentPrincipal) -> Response:
        await writes.delete(services(request).db, resource, principal, id)
        return Response(status_code=204)

    return router
