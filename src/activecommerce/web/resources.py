"""A console page's writes to a collection: the API's flow (validate the body with the
collection's model, the rules' checks before the transaction, then the generic create,
patch or delete in one transaction), so that a page fires the same events and obeys the
same rules as `api/routes.crud_router`. A refusal is the service's `Problem`."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from activecommerce.kit.fields import ascii_digits
from activecommerce.kit.pagination import MAX_PAGE
from activecommerce.kit.problems import invalid_body
from activecommerce.kit.resource import Resource, Rules
from activecommerce.kit.services import services
from activecommerce.web.console import Console


def body_of(model: type[BaseModel], values: dict[str, Any]) -> BaseModel:
    """`values` (API names) validated as the API validates a request body (a 422 Problem)."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise invalid_body(exc) from None


async def _check(ctx: Console, resource: Resource, body: BaseModel, *, partial: bool) -> None:
    if type(resource.rules).check is not Rules.check:
        sent = body.model_dump(mode="json", exclude_unset=partial)
        await resource.rules.check(ctx.principal, sent)


async def create(ctx: Console, resource: Resource, values: dict[str, Any]) -> dict[str, Any]:
    """POST /v3/<collection>: the new object (with its shown-once fields, if any)."""
    body = body_of(resource.create_model, values)
    await _check(ctx, resource, body, partial=False)
    async with services(ctx.request).db.transaction() as conn:
        return await resource.create(conn, ctx.principal, body)


async def patch(
    ctx: Console, resource: Resource, object_id: str, values: dict[str, Any]
) -> dict[str, Any]:
    """PATCH /v3/<collection>/{id} with these fields."""
    body = body_of(resource.patch_model, values)
    await _check(ctx, resource, body, partial=True)
    async with services(ctx.request).db.transaction() as conn:
        return await resource.patch(conn, ctx.principal, object_id, body)


async def delete(ctx: Console, resource: Resource, object_id: str) -> None:
    """DELETE /v3/<collection>/{id}."""
    async with services(ctx.request).db.transaction() as conn:
        await resource.delete(conn, ctx.principal, object_id)


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
