"""Webhooks, for owners: the list, creating one (its signing secret shown
once), editing its URL, events and description, turning one on or off, sending it a test
event, deleting it, and a webhook's delivery log with a retry of a failed delivery,
through the same `WebhookService` as /v3/webhooks (PATCH, POST .../test)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from starlette.responses import Response

from activecommerce.kit.problems import Problem
from activecommerce.kit.services import services
from activecommerce.web import once, resources
from activecommerce.web.console import (
    Console,
    ConsoleContext,
    console_router,
    page,
    require_owner,
    see_other,
)
from activecommerce.web.forms import FormErrors, every, form_of, pairs_of
from activecommerce.webhooks.events import EVENT_TYPES
from activecommerce.webhooks.service import WebhookConfig, WebhookService

router = console_router()

DELIVERIES = 20  # a page of the delivery log
EVENT_OPTIONS = [("*", "All events (*)"), *((e, e) for e in sorted(EVENT_TYPES))]


@lru_cache(maxsize=4)
def _service(config: WebhookConfig) -> WebhookService:
    """The process's webhooks (one configuration per process)."""
    return WebhookService(config)


def webhooks(ctx: Console) -> WebhookService:
    require_owner(ctx, "webhooks")
    return _service(services(ctx.request).part(WebhookConfig))


async def _list_page(
    ctx: Console,
    *,
    status: int = 200,
    errors: FormErrors | None = None,
    form: dict[str, Any] | None = None,
) -> Response:
    service = webhooks(ctx)
    rows = await resources.all_of(ctx, service.resource)
    return page(
        ctx,
        "webhooks/list.html",
        status=status,
        hooks=rows,
        event_options=EVENT_OPTIONS,
        errors=errors or FormErrors(),
        form=form or {"events": ["*"]},
    )


@router.get("/webhooks")
async def list_webhooks(ctx: ConsoleContext) -> Response:
    return await _list_page(ctx)


async def _form(ctx: Console) -> dict[str, Any]:
    """The webhook form: its fields, with every value of `events` (a multiple select)."""
    form: dict[str, Any] = dict(await form_of(ctx.request))
    form["events"] = every(await pairs_of(ctx.request), "events")
    return form


@router.post("/webhooks")
async def create_webhook(ctx: ConsoleContext) -> Response:
    service = webhooks(ctx)
    form = await _form(ctx)
    try:
        created = await resources.create(ctx, service.resource, _values(form))
    except Problem as problem:
        return await _list_page(
            ctx, status=problem.status, errors=FormErrors.of(problem), form=form
        )
    response = see_other(
        ctx, f"/webhooks/{created['id']}", "Webhook created. Copy its signing secret now."
    )
    return once.keep(ctx, response, f"webhook:{created['id']}", created["secret"])


def _values(form: dict[str, Any]) -> dict[str, Any]:
    """The form's URL, events and description, as the API names them."""
    return {
        "url": form.get("url", "").strip(),
        "events": form["events"],
        "description": form.get("description", "").strip() or None,
    }


async def _show_page(
    ctx: Console,
    webhook_id: int,
    page_number: str | None = None,
    *,
    status: int = 200,
    errors: FormErrors | None = None,
    form: dict[str, Any] | None = None,
) -> Response:
    service = webhooks(ctx)
    db = services(ctx.request).db
    hook = service.resource.serialize(
        await service.resource.get_row(db, ctx.principal, str(webhook_id))
    )
    number = resources.page_number(page_number)
    log = await service.list_deliveries(db, ctx.principal, str(webhook_id), number, DELIVERIES)
    secret = once.take(ctx, f"webhook:{webhook_id}")
    retry_at = None
    if hook["active"] and hook["failingSince"]:  # the hook is the principal's: read above
        retry_at = await service.next_attempt(db, ctx.principal, webhook_id)
    response = page(
        ctx,
        "webhooks/show.html",
        status=status,
        block="results",
        hook=hook,
        next_attempt=retry_at,
        deliveries=log["data"],
        secret=secret,
        event_options=EVENT_OPTIONS,
        errors=errors or FormErrors(),
        form=form or {**hook, "description": hook["description"] or ""},
        **resources.page_links(number, log["meta"]["totalPages"]),
    )
    return once.forget(response) if secret else response


@router.get("/webhooks/{webhook_id:int}")
async def show_webhook(
    ctx: ConsoleContext, webhook_id: int, page_number: str | None = None
) -> Response:
    return await _show_page(ctx, webhook_id, page_number)


@router.post("/webhooks/{webhook_id:int}/edit")
async def edit_webhook(ctx: ConsoleContext, webhook_id: int) -> Response:
    """PATCH /v3/webhooks/{id} with the URL, events and description (the same checks:
    the URL's address is refused in private ranges)."""
    service = webhooks(ctx)
    form = await _form(ctx)
    try:
        await resources.patch(ctx, service.resource, str(webhook_id), _values(form))
    except Problem as problem:
        if problem.status == 404:
            raise
        errors = FormErrors.of(problem)
        return await _show_page(ctx, webhook_id, status=problem.status, errors=errors, form=form)
    return see_other(ctx, f"/webhooks/{webhook_id}", "Webhook saved.")


@router.post("/webhooks/{webhook_id:int}/test")
async def send_test(ctx: ConsoleContext, webhook_id: int) -> Response:
    """POST /v3/webhooks/{id}/test: a `webhook.test` event to this webhook only."""
    service = webhooks(ctx)
    async with services(ctx.request).db.transaction() as conn:
        await service.send_test(conn, ctx.principal, str(webhook_id))
    return see_other(
        ctx, f"/webhooks/{webhook_id}", "A test event is on its way; see the deliveries below."
    )


@router.post("/webhooks/{webhook_id:int}/active")
async def set_active(ctx: ConsoleContext, webhook_id: int) -> Response:
    service = webhooks(ctx)
    on = (await form_of(ctx.request)).get("active") == "true"
    await resources.patch(ctx, service.resource, str(webhook_id), {"active": on})
    return see_other(
        ctx, f"/webhooks/{webhook_id}", "Webhook turned on." if on else "Webhook turned off."
    )


@router.post("/webhooks/{webhook_id:int}/delete")
async def delete_webhook(ctx: ConsoleContext, webhook_id: int) -> Response:
    service = webhooks(ctx)
    await resources.delete(ctx, service.resource, str(webhook_id))
    return see_other(ctx, "/webhooks", "Webhook deleted.")


@router.post("/webhooks/{webhook_id:int}/deliveries/{delivery_id:int}/retry")
async def retry(ctx: ConsoleContext, webhook_id: int, delivery_id: int) -> Response:
    """POST /v3/webhooks/{id}/deliveries/{deliveryId}/retry: the event is sent again."""
    service = webhooks(ctx)
    back = f"/webhooks/{webhook_id}"
    try:
        async with services(ctx.request).db.transaction() as conn:
            await service.retry_delivery(conn, ctx.principal, str(webhook_id), str(delivery_id))
    except Problem as problem:
        return see_other(ctx, back, problem.detail or problem.title, "error")
    return see_other(ctx, back, "The event is queued to be sent again.")
