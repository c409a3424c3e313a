"""Brands (under Campaigns): listed by name, created, edited (name, sender address and
name, the postal address every marketing email's footer carries) and deleted, through
the collection's own flow (`web.resources`): the API's checks and events; a deleted
brand is cleared from the campaigns and automations that named it."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from activecommerce.brands.service import brands
from activecommerce.kit.problems import Problem
from activecommerce.web import resources
from activecommerce.web.console import Console, ConsoleContext, console_router, page, see_other
from activecommerce.web.forms import FormErrors, form_of

router = console_router()

BASE = "/campaigns/brands"
# Form field -> API field.
FIELDS = {
    "name": "name",
    "from_email": "fromEmail",
    "from_name": "fromName",
    "postal_address": "postalAddress",
}
API_TO_FORM = {api: name for name, api in FIELDS.items()}


def _values(form: dict[str, str]) -> dict[str, Any]:
    """The form as the API's fields: the name as typed, blank optional fields cleared."""
    values: dict[str, Any] = {"name": form.get("name", "")}
    for name, api in FIELDS.items():
        if name != "name":
            values[api] = form.get(name, "").strip() or None
    return values


def _form(brand: dict[str, Any]) -> dict[str, str]:
    return {name: brand.get(api) or "" for name, api in FIELDS.items()}


def _errors(problem: Problem) -> FormErrors:
    errors = FormErrors.of(problem, API_TO_FORM)
    if problem.status == 409 and not errors.fields:
        errors.fields["name"] = "is taken by another brand"
        errors.message = "Check the fields marked below."
    return errors


async def _list_page(
    ctx: Console, *, status: int = 200, errors: FormErrors | None = None, form: Any = None
) -> Response:
    after = ctx.request.query_params.get("after") or None
    rows, next_cursor = await resources.rows_of(ctx, brands, size=resources.PAGE_SIZE, after=after)
    return page(
        ctx,
        "campaigns/brands.html",
        block="results",
        status=status,
        rows=rows,
        next_url=f"{BASE}?after={next_cursor}" if next_cursor else None,
        first_url=BASE if after else None,
        errors=errors or FormErrors(),
        form=form or {},
    )


@router.get(BASE)
async def listed(ctx: ConsoleContext) -> Response:
    return await _list_page(ctx)


@router.post(BASE)
async def create(ctx: ConsoleContext) -> Response:
    form = await form_of(ctx.request)
    try:
        made = await resources.create(ctx, brands, _values(form))
    except Problem as problem:
        return await _list_page(ctx, status=problem.status, errors=_errors(problem), form=form)
    return see_other(ctx, BASE, f"Brand “{made['name']}” created.")


async def _brand_page(
    ctx: Console,
    brand_id: int,
    template: str,
    *,
    status: int = 200,
    errors: FormErrors | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    brand = await resources.one(ctx, brands, str(brand_id))
    return page(
        ctx,
        template,
        status=status,
        brand=brand,
        errors=errors or FormErrors(),
        form=form if form is not None else _form(brand),
    )


@router.get(BASE + "/{brand_id:int}")
async def edit(ctx: ConsoleContext, brand_id: int) -> Response:
    return await _brand_page(ctx, brand_id, "campaigns/brand.html")


@router.post(BASE + "/{brand_id:int}")
async def save(ctx: ConsoleContext, brand_id: int) -> Response:
    form = await form_of(ctx.request)
    try:
        saved = await resources.replace(ctx, brands, str(brand_id), _values(form))
    except Problem as problem:
        if problem.status == 404:
            raise
        return await _brand_page(
            ctx,
            brand_id,
            "campaigns/brand.html",
            status=problem.status,
            errors=_errors(problem),
            form=form,
        )
    return see_other(ctx, BASE, f"Brand “{saved['name']}” saved.")


@router.get(BASE + "/{brand_id:int}/delete")
async def confirm_delete(ctx: ConsoleContext, brand_id: int) -> Response:
    return await _brand_page(ctx, brand_id, "campaigns/brand_delete.html")


@router.post(BASE + "/{brand_id:int}/delete")
async def delete(ctx: ConsoleContext, brand_id: int) -> Response:
    await resources.delete(ctx, brands, str(brand_id))
    return see_other(ctx, BASE, "Brand deleted.")
