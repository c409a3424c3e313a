"""API keys, for owners: the current environment's keys (prefix, created, last used,
revoked), creating one (the key shown once), revoking one, through the accounts service
that /v3/apiKeys and the command line use."""

from __future__ import annotations

from starlette.responses import Response

from activecommerce.accounts import service
from activecommerce.kit.pagination import offset
from activecommerce.kit.problems import Problem
from activecommerce.kit.repository import Scoped
from activecommerce.kit.services import services
from activecommerce.web import once, resources
from activecommerce.web.console import (
    ConsoleContext,
    console_router,
    page,
    require_owner,
    see_other,
)
from activecommerce.web.forms import form_of

router = console_router()

KEYS = 50  # a page of keys


@router.get("/keys")
async def list_keys(ctx: ConsoleContext, page_number: str | None = None) -> Response:
    require_owner(ctx, "apiKeys")
    number = resources.page_number(page_number)
    scope = Scoped(services(ctx.request).db, ctx.principal)
    total, keys = await service.list_keys(scope, KEYS, offset(number, KEYS), revoked=True)
    created = once.take(ctx, f"key:{ctx.account_id}:{ctx.env}")
    response = page(
        ctx,
        "keys/list.html",
        block="results",
        keys=keys,
        created=created,
        **resources.page_links(number, -(-total // KEYS)),
    )
    return once.forget(response) if created else response


@router.post("/keys")
async def create_key(ctx: ConsoleContext) -> Response:
    require_owner(ctx, "apiKeys")
    secret = services(ctx.request).authenticator.secret
    name = (await form_of(ctx.request)).get("name", "").strip() or None
    try:
        async with services(ctx.request).db.transaction() as conn:
            created = await service.create_key(conn, secret, ctx.account_id, ctx.env, name)
    except Problem as problem:
        text = "; ".join(f"{e['field']} {e['message']}" for e in problem.errors or [])
        return see_other(ctx, "/keys", text or problem.detail or problem.title, "error")
    response = see_other(ctx, "/keys", "API key created. Copy it now.")
    return once.keep(ctx, response, f"key:{ctx.account_id}:{ctx.env}", created["key"])


@router.post("/keys/{key_id:int}/revoke")
async def revoke_key(ctx: ConsoleContext, key_id: int) -> Response:
    require_owner(ctx, "apiKeys")
    if not await service.revoke_key(services(ctx.request).db, key_id, ctx.account_id, ctx.env):
        return see_other(ctx, "/keys", "No such API key (or it was already revoked).", "error")
    return see_other(ctx, "/keys", "The API key was revoked; it no longer works.")
