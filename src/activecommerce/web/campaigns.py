"""Campaigns: the list, the editor with its live preview for a chosen
contact, test copies, the audience with its recipient count, send now or schedule,
cancel, and the report with opens and clicks over time. Every change goes through the
services the API uses (`email_campaigns` through `web.resources`, `campaigns.sending`)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html import escape
from typing import Any
from urllib.parse import urlencode

from starlette.responses import Response

from activecommerce.brands.service import brands
from activecommerce.campaigns import sending, state
from activecommerce.campaigns.schemas import AudienceIn, CampaignSendIn, CampaignTestIn
from activecommerce.campaigns.service import email_campaigns
from activecommerce.contacts.service import contacts
from activecommerce.email import service as email
from activecommerce.email.config import EmailConfig
from activecommerce.email.preview import preview
from activecommerce.groups.service import contact_groups
from activecommerce.kit.fields import parse_id
from activecommerce.kit.problems import Problem
from activecommerce.kit.services import services
from activecommerce.kit.timezones import shown, wall_clock
from activecommerce.segments.service import segments
from activecommerce.tags.service import contact_tags
from activecommerce.web import resources
from activecommerce.web.console import Console, ConsoleContext, console_router, page, see_other
from activecommerce.web.email_frame import email_frame
from activecommerce.web.forms import (
    FormErrors,
    content_values,
    form_data,
    problem_text,
    text,
    tracking_values,
    validated,
)

router = console_router()

EDITABLE = frozenset({"draft", "scheduled", "canceled"})  # CampaignRules refuses the rest


# ---------------------------------------------------------------- list and editor


@router.get("/campaigns")
async def campaign_list(ctx: ConsoleContext, after: str = "") -> Response:
    try:
        rows, cursor = await resources.list_page(ctx, email_campaigns, after)
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
    recent, _ = await resources.rows_of(
        ctx, contacts, size=20, sort_by="createdAt", sort_order="desc"
    )
    people = [c["email"] for c in recent]
    values = form if form is not None else dict(campaign or {})
    chosen = ctx.request.query_params.get("preview", "")[:254]
    values.setdefault("previewContact", chosen or (people[0] if people else ""))
    draft = campaign is not None and campaign["status"] == "draft"
    paused_reason = None
    if campaign is not None and campaign["status"] == "paused":
        paused_reason = await email.paused_reason(
            services(ctx.request).db, ctx.principal, int(campaign["id"])
        )
    return page(
        ctx,
        "campaigns/edit.html",
        status=status,
        campaign=campaign,
        form=values,
        errors=errors or FormErrors(),
        editable=campaign is None or campaign["status"] in EDITABLE,
        brand_options=await resources.options(ctx, brands),
        groups=await resources.first_rows(ctx, contact_groups) if draft else [],
        tags=await resources.first_rows(ctx, contact_tags) if draft else [],
        segments=await resources.first_rows(ctx, segments) if draft else [],
        people=people,
        pick_limit=resources.PICK_LIMIT,
        now=datetime.now(UTC),
        picked=False,
        paused_reason=paused_reason,
    )


async def _campaign(ctx: Console, campaign_id: str) -> dict[str, Any]:
    return await resources.one(ctx, email_campaigns, campaign_id)


@router.get("/campaigns/new")
async def new_campaign(ctx: ConsoleContext) -> Response:
    return await _editor(ctx, None)


@router.get("/campaigns/{campaign_id}")
async def campaign_page(ctx: ConsoleContext, campaign_id: str) -> Response:
    return await _editor(ctx, await _campaign(ctx, campaign_id))


async def _save(ctx: Console, campaign_id: str | None) -> Response:
    campaign = await _campaign(ctx, campaign_id) if campaign_id is not None else None
    form = await form_data(ctx.request)
    values = content_values(form) | tracking_values(form)
    try:
        if campaign_id is None:
            saved = await resources.create(ctx, email_campaigns, values)
        else:
            saved = await resources.replace(ctx, email_campaigns, campaign_id, values)
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
    form = await form_data(ctx.request)
    values = content_values(form)
    contact = text(form, "previewContact").strip() or None
    # The campaign being edited (none yet for a new one): its Feedback-ID header.
    shown = await preview(
        services(ctx.request).db,
        ctx.principal,
        services(ctx.request).part(EmailConfig).links(),
        values,
        contact,
        kind="campaign",
        source_id=parse_id(text(form, "campaignId")),
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
    form = await form_data(ctx.request)
    emails = [a for a in _ADDRESSES.split(text(form, "emails")) if a]
    here = f"/campaigns/{campaign_id}"
    try:
        body = validated(CampaignTestIn, {"emails": emails})
        async with services(ctx.request).db.transaction() as conn:
            await sending.send_test(conn, ctx.principal, campaign_id, body)
    except Problem as problem:
        if problem.status == 404:
            raise
        return see_other(ctx, here, problem_text(problem, "Test addresses"), "error")
    where = " (see the Sandbox inbox)" if ctx.sandbox else ""
    return see_other(ctx, here, f"Test copy sent to {', '.join(emails)}{where}.")


def _ids(values: list[Any]) -> list[str]:
    return [v for v in values if isinstance(v, str) and parse_id(v) is not None][:100]


def _audience(source: Any) -> dict[str, Any]:
    """The audience as the picker's fields say (`all`, `groupIds`, ..., and the
    exclusions' `excludeGroupIds`, ...), in the API's shape."""
    audience: dict[str, Any] = {"all": source.get("all") == "on"}
    exclude: dict[str, Any] = {}
    for kind in ("groupIds", "tagIds", "segmentIds"):
        if picked := _ids(source.getlist(kind)):
            audience[kind] = picked
        if left_out := _ids(source.getlist(f"exclude{kind[0].upper()}{kind[1:]}")):
            exclude[kind] = left_out
    if exclude:
        audience["exclude"] = exclude
    return audience


@router.get("/campaigns/audience/count")
async def audience_count(ctx: ConsoleContext) -> Response:
    """The recipient count of the audience being picked (an htmx fragment)."""
    audience = _audience(ctx.request.query_params)
    picked = audience["all"] or any(k in audience for k in ("groupIds", "tagIds", "segmentIds"))
    n, exact, error = 0, True, None
    if picked:
        try:
            body = validated(AudienceIn, audience)
            n, exact = await sending.audience_size(
                services(ctx.request).db, ctx.principal, body, live=True
            )
        except Problem as problem:
            error = problem_text(problem, "Audience")
    return page(
        ctx,
        "campaigns/audience.html",
        block="count",
        n=n,
        exact=exact,
        picked=picked,
        error=error,
    )


@router.post("/campaigns/{campaign_id}/send")
async def send_campaign(ctx: ConsoleContext, campaign_id: str) -> Response:
    form = await form_data(ctx.request)
    here = f"/campaigns/{campaign_id}"
    values: dict[str, Any] = {"audience": _audience(form)}
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
        return see_other(ctx, here, problem_text(problem, "Audience"), "error")
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


@router.post("/campaigns/{campaign_id}/resume")
async def resume_campaign(ctx: ConsoleContext, campaign_id: str) -> Response:
    here = f"/campaigns/{campaign_id}"
    try:
        async with services(ctx.request).db.transaction() as conn:
            await state.resume(conn, ctx.principal, campaign_id)
    except Problem as problem:
        if problem.status == 404:
            raise
        return see_other(ctx, here, problem.detail or problem.title, "error")
    return see_other(ctx, f"{here}/report", "Campaign resumed: the emails still queued go out.")


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
