"""Tags and groups (under Contacts): each listed by name with how many contacts it
holds (the maintained counts, linked to the contacts list filtered by it), created,
renamed and deleted through the collections' own flow (`web.resources`): a clashing
name is the API's 409, shown on the name; a tag or group an automation's trigger names
stays (its 409 names the automations)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.responses import Response

from activecommerce.contacts.service import (
    Membership,
    contact_group_membership,
    contact_tag_membership,
    member_counts,
)
from activecommerce.kit.problems import Problem
from activecommerce.kit.services import services
from activecommerce.web import resources
from activecommerce.web.console import Console, ConsoleContext, console_router, page, see_other
from activecommerce.web.forms import FormErrors, form_of

router = console_router()


@dataclass(frozen=True, slots=True)
class Kind:
    """Tags or groups: the path segment under /contacts, the membership (its collection
    and count key), what one is called, and the contacts list's filter for one."""

    path: str
    membership: Membership
    one: str  # "tag"
    title: str  # "Tags"
    list_filter: str  # "tagId"

    @property
    def base(self) -> str:
        return f"/contacts/{self.path}"


KINDS = (
    Kind("tags", contact_tag_membership, "tag", "Tags", "tagId"),
    Kind("groups", contact_group_membership, "group", "Groups", "groupId"),
)


def _errors(kind: Kind, problem: Problem) -> FormErrors:
    """A refusal as the form's errors: a clash (409) is an error of the name."""
    errors = FormErrors.of(problem)
    if problem.status == 409 and not errors.fields and "name" in (problem.detail or ""):
        errors.fields["name"] = f"is taken by another {kind.one}"
        errors.message = "Check the fields marked below."
    return errors


async def _list_page(
    ctx: Console,
    kind: Kind,
    *,
    status: int = 200,
    errors: FormErrors | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    after = ctx.request.query_params.get("after") or None
    rows, next_cursor = await resources.rows_of(
        ctx, kind.membership.target, size=resources.PAGE_SIZE, after=after
    )
    counts = await member_counts(
        services(ctx.request).db, ctx.principal, kind.membership, [row["id"] for row in rows]
    )
    return page(
        ctx,
        "contacts/labels.html",
        block="results",
        status=status,
        kind=kind,
        rows=[{**row, "count": counts[row["id"]]} for row in rows],
        next_url=f"{kind.base}?after={next_cursor}" if next_cursor else None,
        first_url=kind.base if after else None,
        errors=errors or FormErrors(),
        form=form or {},
    )


async def _one_page(
    ctx: Console,
    kind: Kind,
    object_id: int,
    template: str,
    *,
    status: int = 200,
    errors: FormErrors | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    item = await resources.one(ctx, kind.membership.target, str(object_id))
    counts = await member_counts(
        services(ctx.request).db, ctx.principal, kind.membership, [item["id"]]
    )
    return page(
        ctx,
        template,
        status=status,
        kind=kind,
        item=item,
        count=counts[item["id"]],
        errors=errors or FormErrors(),
        form=form or {"name": item["name"], "public": "on" if item.get("public") else ""},
    )


Handler = Callable[..., Awaitable[Response]]


def _routes(kind: Kind) -> None:
    target = kind.membership.target

    async def listed(ctx: ConsoleContext) -> Response:
        return await _list_page(ctx, kind)

    async def create(ctx: ConsoleContext) -> Response:
        form = await form_of(ctx.request)
        try:
            made = await resources.create(ctx, target, {"name": form.get("name", "")})
        except Problem as problem:
            return await _list_page(
                ctx, kind, status=problem.status, errors=_errors(kind, problem), form=form
            )
        return see_other(ctx, kind.base, f"{kind.one.capitalize()} “{made['name']}” created.")

    async def edit(ctx: ConsoleContext, object_id: int) -> Response:
        return await _one_page(ctx, kind, object_id, "contacts/label.html")

    async def rename(ctx: ConsoleContext, object_id: int) -> Response:
        form = await form_of(ctx.request)
        try:
            body: dict[str, object] = {"name": form.get("name")}
            if kind.path == "groups":  # listed on the unsubscribe page (preferences) or not
                body["public"] = form.get("public") == "on"
            saved = await resources.patch(ctx, target, str(object_id), body)
        except Problem as problem:
            if problem.status == 404:
                raise
            return await _one_page(
                ctx,
                kind,
                object_id,
                "contacts/label.html",
                status=problem.status,
                errors=_errors(kind, problem),
                form=form,
            )
        return see_other(ctx, kind.base, f"{kind.one.capitalize()} “{saved['name']}” saved.")

    async def confirm_delete(ctx: ConsoleContext, object_id: int) -> Response:
        return await _one_page(ctx, kind, object_id, "contacts/label_delete.html")

    async def delete(ctx: ConsoleContext, object_id: int) -> Response:
        refused = await resources.delete_unless_needed(ctx, target, str(object_id))
        if refused is not None:  # still needed (a segment, a trigger): the 409 says by what
            return await _one_page(
                ctx,
                kind,
                object_id,
                "contacts/label_delete.html",
                status=refused.status,
                errors=FormErrors(message=refused.detail or refused.title),
            )
        return see_other(ctx, kind.base, f"{kind.one.capitalize()} deleted.")

    one = f"{kind.base}/{{object_id:int}}"
    router.add_api_route(kind.base, listed, methods=["GET"])
    router.add_api_route(kind.base, create, methods=["POST"])
    router.add_api_route(one, edit, methods=["GET"])
    router.add_api_route(one, rename, methods=["POST"])
    router.add_api_route(f"{one}/delete", confirm_delete, methods=["GET"])
    router.add_api_route(f"{one}/delete", delete, methods=["POST"])


for _kind in KINDS:
    _routes(_kind)
