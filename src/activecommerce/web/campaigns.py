"""Campaigns (SPEC §5, §11): the list, the editor with its live preview for a chosen
contact, test copies, the audience with its recipient count, send now or schedule,
cancel, and the report with opens and clicks over time. Every change goes through the
services the API uses (`email_campaigns`, `campaigns.sending`)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html import escape
from typing import Any, TypeVar
from urllib.parse import urlencode

from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData
from starlette.responses import Response

from activecommerce.api.routes import sent_fields
from activecommerce.brands.service import brands
from activecommerce.campaigns import sending, state
from activecommerce.campaigns.schemas import CampaignSendIn, CampaignTestIn, EmailCampaignIn
from activecommerce.campaigns.service import email_campaigns
from activecommerce.contacts.service import contacts
from activecommerce.email.config import EmailConfig
from activecommerce.email.preview import preview
from activecommerce.groups.service import contact_groups
from activecommerce.kit.fields import parse_id
from activecommerce.kit.principal import Principal
from activecommerce.kit.problems import Problem, invalid_body
from activecommerce.kit.resource import Resource
from activecommerce.kit.services import services
from activecommerce.kit.timezones import shown, wall_clock
from activecommerce.tags.service import contact_tags
from activecommerce.web.console import (
    Console,
    ConsoleContext,
    FormErrors,
    console_router,
    page,
    see_other,
)
from activecommerce.web.email_frame import email_frame

router = console_router()

PAGE_SIZE = 25
PICK_LIMIT = 100  # groups, tags, brands offered by a picker (the first, by name)
CONTENT_FIELDS = (
    "name",
    "subject",
    "fromEmail",
    "fromName",
    "replyToEmail",
    "htmlContent",
    "plaintextContent",
    "brandId",
)
REQUIRED = frozenset({"name", "subject", "fromEmail"})
EDITABLE = frozenset({"draft", "scheduled", "canceled"})  # CampaignRules refuses the rest

ModelT = TypeVar("ModelT", bound=BaseModel)


# ---------------------------------------------------------------- shared with automations


async def form_data(ctx: Console) -> FormData:
    """The submitted form, urlencoded or multipart (the editors post multipart: their
    bodies can be larger than an urlencoded console form may be), every value of a name."""
    return await ctx.request.form()


def text(form: Any, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def content_values(form: Any) -> dict[str, Any]:
    """The email content fields of an editor's form, by API name ("" is left out for
    the optional ones)."""
    return {
        name: text(form, name) if name in REQUIRED else (text(form, name) or None)
        for name in CONTENT_FIELDS
    }


def validated(model: type[ModelT], values: dict[str, Any]) -> ModelT:
    """The API's model of a form's values; its refusal as the API's 422 Problem."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise invalid_body(exc) from exc


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


async def brand_options(ctx: Console) -> list[tuple[str, str]]:
    return [(b["id"], b["name"]) for b in await first_rows(ctx, brands)]


async def list_page(
    ctx: Console, resource: Resource, after: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of a list page: newest first."""
    return await rows_of(
        ctx, resource, size=PAGE_SIZE, sort_by="createdAt", sort_order="desc", after=after
    )


async def one(ctx: Console, resource: Resource, object_id: str) -> dict[str, Any]:
    """The caller's object (another account's or environment's: the 404 page)."""
    row = await resource.get_row(services(ctx.request).db, ctx.principal, object_id)
    return resource.serialize(row)


async def save_content(
    ctx: Console,
    resource: Resource,
    model: type[BaseModel],
    values: dict[str, Any],
    object_id: str | None,
) -> dict[str, Any]:
    """Create or replace an object as the API's POST and PUT do: the model, the
    resource's checks outside the transaction, then the write (events included)."""
    body = validated(model, values)
    principal: Principal = ctx.principal
    await resource.rules.check(principal, sent_fields(body))
    async with services(ctx.request).db.transaction() as conn:
        if object_id is None:
            return await resource.create(conn, principal, body)
        return await resource.replace(conn, principal, object_id, body)


# ---------------------------------------------------------------- list and editor


@router.get("/campaigns")
async def campaign_list(ctx: ConsoleContext, after: str = "") -> Response:
    try:
        rows, cursor = await list_page(ctx, email_campaigns, after)
    except Problem:
        return see_other(
            ctx, "/campaigns", "That page of campaigns is gone; here is the first.", "error"
        )
    next_url = f"/campaigns?{urlencode({'after': cursor})}" if cursor else None
    return page(ctx, "campaigns/list.html", block="results", rows=rows, next_url=next_url)


async def _editor(
    ctx: Console,
    campaign: dict[str, Any] | None,
    *,
    form: dict[str, Any] | None = None,
    errors: FormErrors | None = None,
    status: int = 200,
) -> Response:
    recent, _ = await rows_of(ctx, contacts, size=20, sort_by="createdAt", sort_order="desc")
    people = [c["email"] for c in recent]
    values = form if form is not None else dict(campaign or {})
    chosen = ctx.request.query_params.get("preview", "")[:254]
    values.setdefault("previewContact", chosen or (people[0] if people else ""))
    draft = campaign is not None and campaign["status"] == "draft"
    return page(
        ctx,
        "campaigns/edit.html",
        status=status,
        campaign=campaign,
        form=values,
        errors=errors or FormErrors(),
        editable=campaign is None or campaign["status"] in EDITABLE,
        brand_options=await brand_options(ctx),
        groups=await first_rows(ctx, contact_groups) if draft else [],
        tags=await first_rows(ctx, contact_tags) if draft else [],
        people=people,
        pick_limit=PICK_LIMIT,
        now=datetime.now(UTC),
        picked=False,
    )


async def _campaign(ctx: Console, campaign_id: str) -> dict[str, Any]:
    return await one(ctx, email_campaigns, campaign_id)


@router.get("/campaigns/new")
async def new_campaign(ctx: ConsoleContext) -> Response:
    return await _editor(ctx, None)


@router.get("/campaigns/{campaign_id}")
async def campaign_page(ctx: ConsoleContext, campaign_id: str) -> Response:
    return await _editor(ctx, await _campaign(ctx, campaign_id))


async def _save(ctx: Console, campaign_id: str | None) -> Response:
    campaign = await _campaign(ctx, campaign_id) if campaign_id is not None else None
    form = await form_data(ctx)
    values = content_values(form)
    try:
        saved = await save_content(ctx, email_campaigns, EmailCampaignIn, values, campaign_id)
    except Problem as problem:
        if problem.status == 404:
            raise
        shown = {k: v or "" for k, v in values.items()} | {
            "previewContact": text(form, "previewContact")
        }
        return await _editor(
            ctx, campaign, form=shown, errors=FormErrors.of(problem), status=problem.status
        )
    chosen = text(form, "previewContact").strip()
    query = f"?{urlencode({'preview': chosen})}" if chosen else ""
    return see_other(ctx, f"/campaigns/{saved['id']}{query}", "Campaign saved.")


@router.post("/campaigns")
async def create_campaign(ctx: ConsoleContext) -> Response:
    return await _save(ctx, None)


@router.post("/campaigns/{campaign_id}")
async def update_campaign(ctx: ConsoleContext, campaign_id: str) -> Response:
    return await _save(ctx, campaign_id)


# ---------------------------------------------------------------- live preview


async def _preview(ctx: Console) -> tuple[Any, dict[str, Any]]:
    form = await form_data(ctx)
    values = content_values(form)
    contact = text(form, "previewContact").strip() or None
    shown = await preview(
        services(ctx.request).db,
        ctx.principal,
        services(ctx.request).part(EmailConfig).links(),
        values,
        contact,
    )
    return shown, {"contact": contact}


@router.post("/campaigns/preview/summary")
async def preview_summary(ctx: ConsoleContext) -> Response:
    """The preview's envelope (from, to, subject, text part, template errors): an htmx
    fragment, refreshed as the editor changes."""
    shown, extra = await _preview(ctx)
    return page(ctx, "campaigns/preview.html", block="summary", preview=shown, **extra)


@router.post("/campaigns/preview/frame")
async def preview_frame(ctx: ConsoleContext) -> Response:
    """The preview's HTML part, as the sender renders it: the editor's form posts here
    into the sandboxed preview <iframe> (form target), never into the console's page."""
    shown, _ = await _preview(ctx)
    if shown.errors:
        items = "".join(
            f"<li>{escape(e['field'])} {escape(e['message'])}</li>" for e in shown.errors
        )
        return email_frame(f"<p>The message does not render yet:</p><ul>{items}</ul>")
    composed = shown.composed
    if composed is None or composed.html is None:
        return email_frame("<p>This message has no HTML part (see its text part).</p>")
    return email_frame(composed.html, remote_images=True)


# ---------------------------------------------------------------- test copies, sending


_ADDRESSES = re.compile(r"[\s,;]+")


@router.post("/campaigns/{campaign_id}/test")
async def send_test(ctx: ConsoleContext, campaign_id: str) -> Response:
    form = await form_data(ctx)
    emails = [a for a in _ADDRESSES.split(text(form, "emails")) if a]
    here = f"/campaigns/{campaign_id}"
    try:
        body = validated(CampaignTestIn, {"emails": emails})
        async with services(ctx.request).db.transaction() as conn:
            await sending.send_test(conn, ctx.principal, campaign_id, body)
    except Problem as problem:
        if problem.status == 404:
            raise
        return see_other(ctx, here, _problem_text(problem, "Test addresses"), "error")
    where = " (see the Sandbox inbox)" if ctx.sandbox else ""
    return see_other(ctx, here, f"Test copy sent to {', '.join(emails)}{where}.")


def _problem_text(problem: Problem, what: str) -> str:
    errors = problem.errors or []
    if not errors:
        return problem.detail or problem.title
    return "; ".join(f"{what}: {e.get('field', '')} {e.get('message', '')}".strip() for e in errors)


def _ids(values: list[Any]) -> list[str]:
    return [v for v in values if isinstance(v, str) and parse_id(v) is not None]


@router.get("/campaigns/audience/count")
async def audience_count(ctx: ConsoleContext) -> Response:
    """The recipient count of the audience being picked (an htmx fragment)."""
    query = ctx.request.query_params
    groups = [int(v) for v in _ids(query.getlist("groupIds"))][:100]
    tags = [int(v) for v in _ids(query.getlist("tagIds"))][:100]
    n, exact = await sending.audience_size(services(ctx.request).db, ctx.principal, groups, tags)
    return page(
        ctx, "campaigns/audience.html", block="count", n=n, exact=exact, picked=bool(groups or tags)
    )


@router.post("/campaigns/{campaign_id}/send")
async def send_campaign(ctx: ConsoleContext, campaign_id: str) -> Response:
    form = await form_data(ctx)
    here = f"/campaigns/{campaign_id}"
    values: dict[str, Any] = {
        "audience": {
            "groupIds": _ids(form.getlist("groupIds")),
            "tagIds": _ids(form.getlist("tagIds")),
        }
    }
    scheduling = text(form, "action") == "schedule"
    if scheduling:
        at = text(form, "scheduledAt")
        try:
            # datetime-local has no time zone: the field says the user's.
            values["scheduledAt"] = wall_clock(at, ctx.user.time_zone)
        except ValueError:
            return see_other(ctx, here, "Choose the date and time to send at.", "error")
    try:
        body = validated(CampaignSendIn, values)
        async with services(ctx.request).db.transaction() as conn:
            sent = await sending.send(conn, ctx.principal, campaign_id, body)
    except Problem as problem:
        if problem.status == 404:
            raise
        return see_other(ctx, here, _problem_text(problem, "Audience"), "error")
    if sent["status"] == "scheduled":
        when = shown(sent["scheduledAt"], ctx.user.time_zone) or sent["scheduledAt"]
        return see_other(ctx, here, f"Campaign scheduled for {when}.")
    return see_other(ctx, f"{here}/report", "Campaign sending.")


@router.post("/campaigns/{campaign_id}/cancel")
async def cancel_campaign(ctx: ConsoleContext, campaign_id: str) -> Response:
    here = f"/campaigns/{campaign_id}"
    try:
        async with services(ctx.request).db.transaction() as conn:
            await state.cancel(conn, ctx.principal, campaign_id)
    except Problem as problem:
        if problem.status == 404:
            raise
        return see_other(ctx, here, problem.detail or problem.title, "error")
    return see_other(ctx, here, "Campaign canceled: nothing more goes out.")


# ---------------------------------------------------------------- report


@router.get("/campaigns/{campaign_id}/report")
async def campaign_report(ctx: ConsoleContext, campaign_id: str) -> Response:
    db = services(ctx.request).db
    campaign = await _campaign(ctx, campaign_id)
    report = await sending.report(
        db, ctx.principal, campaign_id, services(ctx.request).part(EmailConfig)
    )
    series = await sending.activity(db, ctx.principal, campaign_id)
    return page(ctx, "campaigns/report.html", campaign=campaign, report=report, series=series)
