"""Pipelines and their stages and statuses (under Deals): create, rename,
reorder, recolour, delete, through the same collections' flow as the API
(`web.resources`): the same rules (a pipeline or stage that still has deals stays: its
409 becomes a message) and the same events."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.responses import Response

from activecommerce.kit.problems import Problem
from activecommerce.kit.resource import Resource
from activecommerce.pipelines.service import deal_stages, deal_statuses, pipelines
from activecommerce.web import resources
from activecommerce.web.console import Console, ConsoleContext, console_router, page, see_other
from activecommerce.web.forms import FormErrors, form_of, whole_number

router = console_router()

# The collections this page manages, by the path segment of their forms, with the fields
# their forms send (API names) and what a person calls one.
PARTS: dict[str, tuple[Resource, tuple[str, ...], str]] = {
    "pipelines": (pipelines, ("name", "currency"), "Pipeline"),
    "stages": (deal_stages, ("name", "order"), "Stage"),
    "statuses": (deal_statuses, ("name", "color"), "Status"),
}


async def pipelines_page(
    ctx: Console,
    *,
    status: int = 200,
    failed: str = "",
    errors: FormErrors | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    items = []
    for pipeline in await resources.all_of(ctx, pipelines):
        items.append(
            {
                **pipeline,
                "stages": await resources.all_of(
                    ctx, deal_stages, "order", pipelineId=pipeline["id"]
                ),
                "statuses": await resources.all_of(
                    ctx, deal_statuses, "name", pipelineId=pipeline["id"]
                ),
            }
        )
    return page(
        ctx,
        "deals/pipelines.html",
        status=status,
        items=items,
        failed=failed,
        errors=errors or FormErrors(),
        form=form or {},
    )


@router.get("/deals/pipelines")
async def show(ctx: ConsoleContext) -> Response:
    return await pipelines_page(ctx)


def _values(fields: tuple[str, ...], form: dict[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in fields:
        text = form.get(name, "").strip()
        if name == "order":
            values[name] = whole_number(text, 9)
        elif name == "currency":
            values[name] = text.upper() or "USD"
        else:
            values[name] = text
    return values


async def _refused(ctx: Console, problem: Problem, failed: str, form: dict[str, str]) -> Response:
    """A refused form shown again, its errors next to its fields; a refused delete (409:
    a stage that still has deals) as a message."""
    if problem.errors:
        return await pipelines_page(
            ctx, status=problem.status, failed=failed, errors=FormErrors.of(problem), form=form
        )
    return see_other(ctx, "/deals/pipelines", problem.detail or problem.title, "error")


Handler = Callable[..., Awaitable[Response]]


def _create(kind: str) -> Handler:
    resource, fields, title = PARTS[kind]

    async def create(ctx: ConsoleContext) -> Response:
        form = await form_of(ctx.request)
        values = _values(fields, form)
        if kind != "pipelines":
            values["pipelineId"] = form.get("pipelineId", "")
        failed = f"new-{kind}-{form.get('pipelineId', '')}"
        try:
            created = await resources.create(ctx, resource, values)
        except Problem as problem:
            return await _refused(ctx, problem, failed, form)
        return see_other(ctx, "/deals/pipelines", f"{title} “{created['name']}” created.")

    return create


def _update(kind: str) -> Handler:
    resource, fields, title = PARTS[kind]

    async def update(ctx: ConsoleContext, object_id: int) -> Response:
        form = await form_of(ctx.request)
        try:
            saved = await resources.patch(ctx, resource, str(object_id), _values(fields, form))
        except Problem as problem:
            return await _refused(ctx, problem, f"{kind}-{object_id}", form)
        return see_other(ctx, "/deals/pipelines", f"{title} “{saved['name']}” saved.")

    return update


def _delete(kind: str) -> Handler:
    resource, _fields, title = PARTS[kind]

    async def delete(ctx: ConsoleContext, object_id: int) -> Response:
        try:
            await resources.delete(ctx, resource, str(object_id))
        except Problem as problem:
            return await _refused(ctx, problem, f"{kind}-{object_id}", {})
        return see_other(ctx, "/deals/pipelines", f"{title} deleted.")

    return delete


for _kind in PARTS:
    router.add_api_route(f"/deals/{_kind}", _create(_kind), methods=["POST"])
    router.add_api_route(f"/deals/{_kind}/{{object_id:int}}", _update(_kind), methods=["POST"])
    router.add_api_route(
        f"/deals/{_kind}/{{object_id:int}}/delete", _delete(_kind), methods=["POST"]
    )
