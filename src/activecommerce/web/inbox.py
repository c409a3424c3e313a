"""The Sandbox inbox: the mail the sandbox captured instead of sending,
newest first, searchable by recipient; a message's HTML (in a sandboxed iframe, served
by its own strict route), text part and headers. In live it does not exist (404)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson
from starlette.responses import Response

from activecommerce.automations.service import email_automations
from activecommerce.campaigns.service import email_campaigns
from activecommerce.email import service as email
from activecommerce.email.config import EmailConfig
from activecommerce.email.links import without_open_pixel
from activecommerce.kit.db import Row
from activecommerce.kit.fields import parse_id
from activecommerce.kit.problems import Problem
from activecommerce.kit.resource import Resource
from activecommerce.kit.services import services
from activecommerce.web.console import Console, ConsoleContext, PageExit, console_router, page
from activecommerce.web.email_frame import email_frame

router = console_router()

PAGE_SIZE = 25


def _not_found(ctx: Console, message: str) -> PageExit:
    return PageExit(page(ctx, "console_error.html", status=404, title="Not found", message=message))


def _sandbox_only(ctx: Console) -> None:
    if not ctx.sandbox:
        raise _not_found(ctx, f"The Sandbox inbox exists in the sandbox only. {_live_mail(ctx)}")


def _live_mail(ctx: Console) -> str:
    if ctx.live_mail_captured:
        return "Live mail is captured, not delivered: no SMTP relay is configured."
    return "Live mail goes out through the SMTP relay."


SOURCES: tuple[tuple[str, str, str, Resource], ...] = (
    ("campaign_id", "Campaign", "campaigns", email_campaigns),
    ("automation_id", "Automation", "automations", email_automations),
)


async def _sources(ctx: Console, rows: list[Row]) -> dict[int, dict[str, str]]:
    """What sent each captured message, by message id: {"kind", "url", "name"} (the
    campaign's or automation's name; "#id (deleted)" for one deleted since)."""
    db = services(ctx.request).db
    names: dict[tuple[str, int], str] = {}
    found: dict[int, dict[str, str]] = {}
    for row in rows:
        for column, kind, path, resource in SOURCES:
            source_id = row[column]
            if source_id is None:
                continue
            key = (column, int(source_id))
            if key not in names:
                try:
                    names[key] = (await resource.get_row(db, ctx.principal, str(source_id)))["name"]
                except Problem:
                    names[key] = f"#{source_id} (deleted)"
            found[int(row["id"])] = {
                "kind": kind,
                "url": f"/{path}/{source_id}",
                "name": names[key],
            }
    return found


@router.get("/inbox")
async def inbox(ctx: ConsoleContext, to: str = "", before: str = "") -> Response:
    _sandbox_only(ctx)
    to = to.strip()[:254]
    rows = await email.captured_after(
        services(ctx.request).db, ctx.principal, to or None, parse_id(before), PAGE_SIZE + 1
    )
    next_url = None
    if len(rows) > PAGE_SIZE:
        rows = rows[:PAGE_SIZE]
        query = {"to": to} if to else {}
        next_url = "/inbox?" + urlencode(query | {"before": rows[-1]["id"]})
    return page(
        ctx,
        "inbox/list.html",
        block="results",
        rows=rows,
        sources=await _sources(ctx, rows),
        to=to,
        next_url=next_url,
    )


async def _message(ctx: Console, message_id: str) -> Row:
    _sandbox_only(ctx)
    oid = parse_id(message_id)
    row = None
    if oid is not None:
        row = await email.captured(services(ctx.request).db, ctx.principal, oid)
    if row is None:
        raise _not_found(ctx, "No such captured message (it may be older than the retention).")
    return row


@router.get("/inbox/{message_id}")
async def message(ctx: ConsoleContext, message_id: str) -> Response:
    row = await _message(ctx, message_id)
    headers: dict[str, Any] = orjson.loads(row["headers"])
    sources = await _sources(ctx, [row])
    return page(ctx, "inbox/message.html", m=row, headers=headers, source=sources.get(row["id"]))


@router.get("/inbox/{message_id}/html")
async def message_html(ctx: ConsoleContext, message_id: str) -> Response:
    """The captured HTML, for the message page's sandboxed iframe only (its own policy:
    no script, no request out, framed by this site only)."""
    row = await _message(ctx, message_id)
    if not row["html"]:
        return email_frame("<p>This message has no HTML part.</p>")
    # Shown, not opened: without the open pixel (which the frame's policy would refuse).
    return email_frame(
        without_open_pixel(row["html"], services(ctx.request).part(EmailConfig).links())
    )
