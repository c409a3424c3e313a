"""The sending domains' pages: the list, adding a domain, each domain's DNS records with
what the last verification found, verifying and deleting (the API's own rules:
`sendingdomains.service`)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from starlette.responses import Response

from activecommerce.kit.problems import Problem, invalid_body
from activecommerce.kit.services import services
from activecommerce.sendingdomains import service
from activecommerce.sendingdomains.schemas import SendingDomainIn
from activecommerce.web.console import Console, ConsoleContext, console_router, page, see_other
from activecommerce.web.forms import FormErrors, form_of

router = console_router()

STATE_LABELS = {"found": "Found", "missing": "Missing", "wrong": "Wrong value"}


async def _list(
    ctx: Console, *, status: int = 200, errors: FormErrors | None = None, form: Any = None
) -> Response:
    state = services(ctx.request)
    listed = await service.list_domains(
        state.db,
        ctx.principal,
        state.settings,
        page=1,
        page_size=100,  # an account has a handful
        sort_by="domain",
        sort_order="asc",
    )
    return page(
        ctx,
        "sending_domains/list.html",
        status=status,
        rows=listed["data"],
        total=listed["meta"]["total"],
        errors=errors or FormErrors(),
        form=form or {},
    )


def _detail(
    ctx: Console, domain: dict[str, Any], *, status: int = 200, error: str | None = None
) -> Response:
    return page(
        ctx,
        "sending_domains/domain.html",
        status=status,
        item=domain,
        labels=STATE_LABELS,
        error=error,
    )


@router.get("/sending-domains")
async def domain_list(ctx: ConsoleContext) -> Response:
    return await _list(ctx)


@router.post("/sending-domains")
async def add_domain(ctx: ConsoleContext) -> Response:
    form = await form_of(ctx.request)
    state = services(ctx.request)
    try:
        try:
            body = SendingDomainIn.model_validate({"domain": (form.get("domain") or "").strip()})
        except ValidationError as exc:
            raise invalid_body(exc) from None
        key = await service.new_key(state.box)
        async with state.db.transaction() as conn:
            domain = await service.create(conn, ctx.principal, state.settings, body.domain, key)
    except Problem as problem:
        return await _list(ctx, status=problem.status, errors=FormErrors.of(problem), form=form)
    return see_other(
        ctx,
        f"/sending-domains/{domain['id']}",
        f"{domain['domain']} added: publish its records, then verify.",
    )


@router.get("/sending-domains/{domain_id}")
async def domain_page(ctx: ConsoleContext, domain_id: str) -> Response:
    state = services(ctx.request)
    return _detail(ctx, await service.get(state.db, ctx.principal, state.settings, domain_id))


@router.post("/sending-domains/{domain_id}/verify")
async def verify_domain(ctx: ConsoleContext, domain_id: str) -> Response:
    state = services(ctx.request)
    try:
        domain = await service.verify(state.db, ctx.principal, state.settings, domain_id)
    except Problem as problem:
        if problem.status == 404:
            raise
        current = await service.get(state.db, ctx.principal, state.settings, domain_id)
        return _detail(ctx, current, status=problem.status, error=problem.detail)
    if domain["status"] == "verified":
        message = f"{domain['domain']} is verified: its mail is DKIM-signed."
    else:
        message = f"{domain['domain']} is not verified yet: its DKIM record was not found."
    return see_other(ctx, f"/sending-domains/{domain['id']}", message)


@router.post("/sending-domains/{domain_id}/delete")
async def delete_domain(ctx: ConsoleContext, domain_id: str) -> Response:
    async with services(ctx.request).db.transaction() as conn:
        await service.delete(conn, ctx.principal, domain_id)
    return see_other(ctx, "/sending-domains", "Sending domain deleted: its mail is not signed.")
