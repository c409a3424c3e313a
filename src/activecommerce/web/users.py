"""The users of an account, for its owners: members, roles, removal."""

from __future__ import annotations

from starlette.responses import Response

from activecommerce.api.html import sessions
from activecommerce.kit.fields import ascii_digits
from activecommerce.kit.problems import Problem
from activecommerce.kit.services import services
from activecommerce.users import service
from activecommerce.users.passwords import Busy
from activecommerce.web.console import (
    Console,
    ConsoleContext,
    console_router,
    page,
    require_owner,
    see_other,
)
from activecommerce.web.forms import FormErrors, form_of

router = console_router()


async def _list(
    ctx: Console, *, status: int = 200, errors: FormErrors | None = None, form: dict[str, str]
) -> Response:
    members = await service.members(services(ctx.request).db, ctx.account_id)
    return page(
        ctx,
        "users/list.html",
        status=status,
        members=members,
        roles=service.ROLES,
        errors=errors or FormErrors(),
        form=form,
    )


@router.get("/users")
async def users_page(ctx: ConsoleContext) -> Response:
    require_owner(ctx)
    return await _list(ctx, form={"role": "member"})


@router.post("/users")
async def add(ctx: ConsoleContext) -> Response:
    require_owner(ctx)
    form = await form_of(ctx.request)
    email = form.get("email", "").strip()
    try:
        await service.add_user(
            services(ctx.request).db,
            sessions(ctx.request).passwords,
            ctx.account_id,
            email,
            form.get("password") or None,
            form.get("role", ""),
        )
    except Problem as problem:
        return await _list(ctx, status=problem.status, errors=FormErrors.of(problem), form=form)
    except Busy:
        busy = FormErrors(message="Too many password hashes at once; retry in a moment.")
        return await _list(ctx, status=503, errors=busy, form=form)
    return see_other(ctx, "/users", f"{email} is now a member of this account.")


def _user_id(value: str) -> int:
    if not ascii_digits(value) or len(value) > 18:
        raise Problem(404, "No such member.")
    return int(value)


@router.post("/users/{user_id}/role")
async def change_role(ctx: ConsoleContext, user_id: str) -> Response:
    require_owner(ctx)
    form = await form_of(ctx.request)
    try:
        await service.set_role(
            services(ctx.request).db, ctx.account_id, _user_id(user_id), form.get("role", "")
        )
    except Problem as problem:
        return see_other(ctx, "/users", problem.detail or problem.title, "error")
    return see_other(ctx, "/users", "The role was changed.")


@router.post("/users/{user_id}/remove")
async def remove(ctx: ConsoleContext, user_id: str) -> Response:
    require_owner(ctx)
    try:
        await service.remove_member(services(ctx.request).db, ctx.account_id, _user_id(user_id))
    except Problem as problem:
        return see_other(ctx, "/users", problem.detail or problem.title, "error")
    return see_other(ctx, "/users", "The member was removed.")
