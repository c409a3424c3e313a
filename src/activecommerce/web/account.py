"""The account picker, the live/sandbox switch, the password page and the settings:
the user's (the time zone the console shows times in) and the account's (its default
postal address)."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import RedirectResponse, Response

from activecommerce.accounts import service as accounts
from activecommerce.accounts.schemas import AccountPatch
from activecommerce.api.html import SESSION_COOKIE, render, sessions
from activecommerce.kit.clock import now
from activecommerce.kit.problems import Problem
from activecommerce.kit.services import services
from activecommerce.kit.timezones import zone_names
from activecommerce.users.passwords import Busy
from activecommerce.users.service import change_password, set_time_zone
from activecommerce.web.console import (
    ENVIRONMENTS,
    Console,
    ConsoleContext,
    console_router,
    page,
    remember_env,
    see_other,
    signed_in_user,
)
from activecommerce.web.forms import FormErrors, form_of, validated
from activecommerce.web.pages import safe_next

router = console_router()


@router.get("/account")
async def picker(request: Request) -> Response:
    """Which account to work in (for users of several accounts)."""
    user, accounts = await signed_in_user(request)
    return render(
        "account_picker.html",
        user=user,
        accounts=accounts,
        next=safe_next(request.query_params.get("next"), "/"),
        csrf_token=sessions(request).csrf_token(request.cookies.get(SESSION_COOKIE) or ""),
    )


@router.post("/account")
async def choose(request: Request) -> Response:
    user, accounts = await signed_in_user(request)
    form = await form_of(request)
    chosen = next((m for m in accounts if str(m.account_id) == form.get("account")), None)
    if chosen is None:
        raise Problem(404, "You are not a member of that account.")
    await sessions(request).choose_account(user, chosen.account_id)
    return RedirectResponse(safe_next(form.get("next"), "/"), status_code=303)


@router.post("/environment")
async def switch(ctx: ConsoleContext) -> Response:
    """Switch between live and sandbox: back to the same section, in the other one."""
    form = await form_of(ctx.request)
    env = form.get("env", "")
    back = safe_next(form.get("next"), "/")
    if env not in ENVIRONMENTS:
        raise Problem(400, "Choose live or sandbox.")
    if env == "live" and not ctx.has_live:
        return see_other(
            ctx, back, "This is a developer account: it has the sandbox only.", "error"
        )
    response = see_other(ctx, back, f"You are in the {env} environment.")
    remember_env(ctx.request, response, ctx.account_id, env)
    return response


@router.get("/account/password")
async def password_page(ctx: ConsoleContext) -> Response:
    return page(ctx, "account/password.html", errors=FormErrors())


@router.post("/account/password")
async def password_change(ctx: ConsoleContext) -> Response:
    form = await form_of(ctx.request)
    new = form.get("new_password", "")
    errors = FormErrors()
    if new != form.get("confirm_password", ""):
        errors = FormErrors({"confirm_password": "does not match the new password"})
    else:
        built = sessions(ctx.request)
        try:
            await change_password(
                services(ctx.request).db,
                built.passwords,
                ctx.user,
                form.get("current_password", ""),
                new,
            )
        except Problem as problem:
            errors = FormErrors.of(problem)
        except Busy:
            errors = FormErrors(message="Too many sign-ins at once; retry in a moment.")
    if errors:
        errors.message = errors.message or "Check the fields marked below."
        return page(ctx, "account/password.html", status=422, errors=errors)
    return see_other(ctx, "/account/password", "Your password was changed.")


async def _settings_page(
    ctx: Console,
    zone: str,
    errors: FormErrors | None = None,
    status: int = 200,
    *,
    address: str | None = None,
    address_errors: FormErrors | None = None,
) -> Response:
    if address is None:
        account = await accounts.account_of(services(ctx.request).db, ctx.principal)
        address = account["postalAddress"] or ""
    return page(
        ctx,
        "account/settings.html",
        status=status,
        zones=zone_names(),
        zone=zone,
        errors=errors or FormErrors(),
        address=address,
        address_errors=address_errors or FormErrors(),
        now=now(),
    )


@router.get("/settings")
async def settings_page(ctx: ConsoleContext) -> Response:
    return await _settings_page(ctx, ctx.user.time_zone)


@router.post("/settings/account")
async def save_account_settings(ctx: ConsoleContext) -> Response:
    """The account's default postal address (the footer of marketing email whose brand
    has none), as `PATCH /v3/account` sets it."""
    address = (await form_of(ctx.request)).get("postal_address", "")
    try:
        body = validated(AccountPatch, {"postalAddress": address})
        await accounts.update_account(
            services(ctx.request).db, ctx.principal, body.model_dump(exclude_unset=True)
        )
    except Problem as problem:
        errors = FormErrors.of(problem, {"postalAddress": "postal_address"})
        return await _settings_page(
            ctx,
            ctx.user.time_zone,
            status=problem.status,
            address=address,
            address_errors=errors,
        )
    saved = "saved" if address.strip() else "cleared"
    return see_other(ctx, "/settings", f"The account's postal address was {saved}.")


@router.post("/settings")
async def save_settings(ctx: ConsoleContext) -> Response:
    zone = (await form_of(ctx.request)).get("time_zone", "")
    try:
        await set_time_zone(services(ctx.request).db, ctx.user, zone)
    except Problem as problem:
        return await _settings_page(
            ctx, zone, FormErrors.of(problem, {"timeZone": "time_zone"}), problem.status
        )
    return see_other(ctx, "/settings", f"Times are now shown in {zone}.")
