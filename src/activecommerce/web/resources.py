"""A console page's reads and writes of a collection, as the API makes them: a write
validates the form's values with the collection's model, then runs `kit/writes.py` (the
rules' checks before the transaction, then the create, replace, patch or delete in one
transaction), so that a page fires the same events and obeys the same rules as
`api/routes.crud_router`. A refusal is the service's `Problem`."""

from __future__ import annotations

from typing import Any

from activecommerce.kit import writes
from activecommerce.kit.fields import ascii_digits
from activecommerce.kit.pagination import MAX_PAGE
from activecommerce.kit.problems import Problem
from activecommerce.kit.resource import Resource
from activecommerce.kit.services import services
from activecommerce.web.console import Console
from activecommerce.web.forms import validated

PAGE_SIZE = 25  # a list page's rows
PICK_LIMIT = 100  # the objects a picker offers (the first, by name)


async def create(ctx: Console, resource: Resource, values: dict[str, Any]) -> dict[str, Any]:
    """POST /v3/<collection>: the new object (with its shown-once fields, if any)."""
    body = validated(resource.create_model, values)
    return await writes.create(services(ctx.request).db, resource, ctx.principal, body)


async def replace(
    ctx: Console, resource: Resource, object_id: str, values: dict[str, Any]
) -> dict[str, Any]:
    """PUT /v3/<collection>/{id} with these fields."""
    body = validated(resource.create_model, values)
    db = services(ctx.request).db
    return await writes.replace(db, resource, ctx.principal, object_id, body)


async def patch(
    ctx: Console, resource: Resource, object_id: str, values: dict[str, Any]
) -> dict[str, Any]:
    """PATCH /v3/<collection>/{id} with these fields."""
    body = validated(resource.patch_model, values)
    db = services(ctx.request).db
    return await writes.patch(db, resource, ctx.principal, object_id, body)


async def delete(ctx: Console, resource: Resource, object_id: str) -> None:
    """DELETE /v3/<collection>/{id}."""
    await writes.delete(services(ctx.request).db, resource, ctx.principal, object_id)


async def delete_unless_needed(ctx: Console, resource: Resource, object_id: str) -> Problem | None:
    """DELETE /v3/<collection>/{id}, or why not: the refusal (a 409 naming what still
    needs the object) for the page to show. No such object is a 404, raised."""
    try:
        await delete(ctx, resource, object_id)
    except Problem as problem:
        if problem.status == 404:
            raise
        return problem
    return None


async def all_of(
    ctx: Console, resource: Resource, sort_by: str = "createdAt", **filters: Any
) -> list[dict[str, Any]]:
    """The first 100 objects of a small collection (pipelines, a pipeline's stages), as
    the API lists them."""
    result = await resource.list_rows(
        services(ctx.request).db,
        ctx.principal,
        page=1,
        page_size=100,
        sort_by=sort_by,
        sort_order="asc",
        filters=filters,
    )
    rows: list[dict[str, Any]] = result["data"]
    return rows


def page_number(value: str | None) -> int:
    """A `?page_number=` of a page-numbered list (1 when absent or not a number)."""
    if value is None or not ascii_digits(value):
        return 1
    return min(max(int(value), 1), MAX_PAGE)


def page_links(number: int, total_pages: int) -> dict[str, Any]:
    """The `pager` macro's links of a page-numbered list."""
    return {
        "previous_url": f"?page_number={number - 1}" if number > 1 else None,
        "next_url": f"?page_number={number + 1}" if number < total_pages else None,
    }


async def one(ctx: Console, resource: Resource, object_id: str) -> dict[str, Any]:
    """GET /v3/<collection>/{id}: the caller's object (another account's or
    environment's: a 404 Problem, the error page)."""
    db = services(ctx.request).db
    row = await resource.get_row(db, ctx.principal, object_id)
    return await resource.present_row(db, ctx.principal, row)


async def rows_of(
    ctx: Console,
    resource: Resource,
    *,
    size: int = PICK_LIMIT,
    sort_by: str = "name",
    sort_order: str = "asc",
    after: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of a collection through the API's list machinery (by cursor), and the
    cursor of the next page."""
    listed = await resource.list_rows(
        services(ctx.request).db,
        ctx.principal,
        page=1,
        page_size=size,
        sort_by=sort_by,
        sort_order=sort_order,
        filters={},
        cursor=after or None,
    )
    return list(listed["data"]), listed["meta"]["nextCursor"]


async def first_rows(ctx: Console, resource: Resource) -> list[dict[str, Any]]:
    """The first objects of a collection by name, for a picker."""
    return (await rows_of(ctx, resource))[0]


async def options(
    ctx: Console, resource: Resource, size: int = PICK_LIMIT
) -> list[tuple[str, str]]:
    """(id, name) of the first objects of a collection by name, for a select."""
    return [(row["id"], row["name"]) for row in (await rows_of(ctx, resource, size=size))[0]]


async def list_page(
    ctx: Console, resource: Resource, after: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of a list page: newest first."""
    return await rows_of(
        ctx, resource, size=PAGE_SIZE, sort_by="createdAt", sort_order="desc", after=after
    )
