"""Email over HTTP: the sandbox's captured mail (`/v3/sandbox/emails`) and the links in
every email (`/e/...`: open pixel, click redirect, unsubscribe), which need no key: the
signature in the link is what they check (email/links.py)."""

from __future__ import annotations

import base64
from html import escape
from typing import Annotated, Any, Literal, TypedDict
from urllib.parse import parse_qs

import orjson
from fastapi import APIRouter, Query, Request
from pydantic import create_model
from starlette.responses import HTMLResponse, RedirectResponse, Response

from activecommerce.api.head import is_head
from activecommerce.api.html import render
from activecommerce.api.routes import COMMON_ERRORS, json_response, list_model
from activecommerce.auth.deps import CurrentPrincipal, client_address_of
from activecommerce.email import service
from activecommerce.email.config import EmailConfig
from activecommerce.email.schemas import CapturedEmailDetailOut, CapturedEmailOut
from activecommerce.kit.db import Row
from activecommerce.kit.fields import FilterText, parse_id
from activecommerce.kit.pagination import DEFAULT_PAGE_SIZE, Page, PageSize, envelope
from activecommerce.kit.principal import Principal
from activecommerce.kit.problems import Problem, not_found, responses
from activecommerce.kit.services import services

sandbox_router = APIRouter(prefix="/v3/sandbox/emails", tags=["Sandbox"])


def _sandbox_only(principal: Principal) -> None:
    if principal.env != "sandbox":
        raise Problem(403, "Captured mail is read with a sandbox key (not a live one).")


def _ref(value: Any) -> str | None:
    return None if value is None else str(value)


# A TypedDict by call, not by class: `from` is a Python keyword.
CapturedView = TypedDict(
    "CapturedView",
    {
        "id": str,
        "to": str,
        "from": str,
        "subject": str,
        "html": str | None,
        "text": str | None,
        "headers": dict[str, str],
        "campaignId": str | None,
        "automationId": str | None,
        "contactId": str | None,
        "createdAt": str,
    },
)
"""A captured message as the API shows it (`CapturedEmailOut`)."""


def captured_view(row: Row) -> CapturedView:
    return {
        "id": str(row["id"]),
        "to": row["to_email"],
        "from": row["from_header"],
        "subject": row["subject"],
        "html": row["html"],
        "text": row["text"],
        "headers": orjson.loads(row["headers"]),
        "campaignId": _ref(row["campaign_id"]),
        "automationId": _ref(row["automation_id"]),
        "contactId": _ref(row["contact_id"]),
        "createdAt": row["created_at"],
    }


CapturedQuery = create_model(
    "CapturedEmailListQuery",
    page=(Page, 1),
    pageSize=(PageSize, DEFAULT_PAGE_SIZE),
    to=(FilterText | None, None),
    campaignId=(FilterText | None, None),
    automationId=(FilterText | None, None),
)


@sandbox_router.get(
    "",
    response_model=list_model("CapturedEmail", CapturedEmailOut),
    summary="List captured mail, newest first",
    operation_id="listSandboxEmails",
    description="Mail captured in the sandbox (nothing leaves it), newest first; filter by"
    " `to`, `campaignId` or `automationId`. A live key gets a 403.",
    responses=responses(*COMMON_ERRORS, 422),
)
async def list_emails(
    request: Request,
    principal: CurrentPrincipal,
    query: Annotated[CapturedQuery, Query()],  # type: ignore[valid-type]
) -> Response:
    _sandbox_only(principal)
    params: dict[str, Any] = query.model_dump()  # type: ignore[attr-defined]
    filters: dict[str, Any] = {"to": params["to"]}
    for name in ("campaignId", "automationId"):
        if params[name] is not None:
            filters[name] = parse_id(params[name]) or -1  # a malformed id matches nothing
    page, size = params["page"], params["pageSize"]
    total, rows = await service.captured_page(services(request).db, principal, filters, page, size)
    return json_response(envelope([captured_view(r) for r in rows], page, size, total))


@sandbox_router.get(
    "/{id}",
    response_model=CapturedEmailDetailOut,
    summary="Get one captured message, whole",
    operation_id="getSandboxEmail",
    description="One captured message: recipients, sender, subject, HTML and text parts,"
    " headers, the campaign or automation and contact it was sent for, and `raw`: the"
    " message exactly as it would have gone on the wire.",
    responses=responses(*COMMON_ERRORS, 404),
)
async def get_email(id: str, request: Request, principal: CurrentPrincipal) -> Response:
    _sandbox_only(principal)
    oid = parse_id(id)
    row = None if oid is None else await service.captured(services(request).db, principal, oid)
    if row is None:
        raise not_found("captured email")
    detail: dict[str, Any] = {**captured_view(row), "raw": row["raw"]}
    return json_response(detail)


# ------------------------------------------------------------------ links in emails

public_router = APIRouter(prefix="/e", include_in_schema=False)

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    html = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>body{{font:16px/1.5 system-ui,sans-serif;"
        "max-width:32rem;margin:4rem auto;padding:0 1rem}button{font:inherit;"
        "padding:.5rem 1rem}</style></head>"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(html, status_code=status, headers=NO_STORE)


def _gone() -> HTMLResponse:
    return _page("Link not found", "<p>This link is not valid.</p>", 404)


# Opens and clicks recorded per minute, beyond the first of each message (always
# recorded): a scanner or a script that hits a link in a loop is answered (the pixel, the
# redirect) but costs no write and sends no webhook event.
TRACKED_PER_MESSAGE = 20
TRACKED_PER_ADDRESS = 600


async def _within_bounds(request: Request, message_id: int) -> bool:
    limiter = services(request).limiter
    address = client_address_of(request)
    if not await limiter.spend("email-tracking-address", TRACKED_PER_ADDRESS, 60, address):
        return False
    return await limiter.spend("email-tracking-message", TRACKED_PER_MESSAGE, 60, str(message_id))


async def _track(
    request: Request, message_id: int, kind: Literal["open", "click"], data: dict[str, Any]
) -> Row | None:
    """Counts an open or a click of the message and records its event (`data` added to
    it), within the bounds above. The message's row, or None when there is none."""
    db = services(request).db
    if is_head(request):  # headers only: a link checker's look, never an open or a click
        return await service.linked_message(db, message_id)
    first_only = not await _within_bounds(request, message_id)
    row = None
    if first_only:
        # A read, not a write transaction: most hits over the bounds are not the first.
        row = await service.linked_message(db, message_id)
        if row is None or row[f"{kind}_count"] > 0:
            return row
    counted = await service.count_visit(db, message_id, kind, data, first_only=first_only)
    return counted if counted is not None else row


@public_router.get("/o/{mid}/{sig}")
async def opened(mid: str, sig: str, request: Request) -> Response:
    message_id = services(request).part(EmailConfig).links().opened(mid, sig)
    if message_id is None:
        return _gone()
    await _track(request, message_id, "open", {})
    return Response(PIXEL, media_type="image/gif", headers=NO_STORE)


@public_router.get("/c/{mid}/{sig}")
async def clicked(mid: str, sig: str, request: Request, u: str = "") -> Response:
    message_id = services(request).part(EmailConfig).links().clicked(mid, sig, u)
    if message_id is None or not u:
        return _gone()
    if await _track(request, message_id, "click", {"url": u}) is None:
        return _gone()
    # The URL exactly as it was in the email (the signature covers it).
    return RedirectResponse(u, status_code=302, headers=NO_STORE)


# The unsubscribe page's form: a few checkboxes. A larger body is not ours.
FORM_LIMIT = 64 * 1024


def _unsubscribe_view(
    request: Request, state: str, view: service.UnsubscribePage, status: int = 200
) -> Response:
    titles = {
        "test": "Test email",
        "ask": "Email preferences" if view["groups"] else "Unsubscribe",
        "saved": "Preferences saved",
        "done": "Unsubscribed",
    }
    response = render(
        "privacy/unsubscribe.html",
        status,
        title=titles[state],
        state=state,
        sender=view["sender"],
        groups=view["groups"],
        action=str(request.url.path),
    )
    response.headers["Referrer-Policy"] = "no-referrer"  # the link's signature stays here
    return response


@public_router.get("/u/{mid}/{sig}")
async def unsubscribe_page(mid: str, sig: str, request: Request) -> Response:
    """Asks first: mail scanners open links, and a GET never changes anything. Lists the
    contact's public groups to stay on (preferences), beside "Unsubscribe from all"."""
    state = services(request)
    message_id = state.part(EmailConfig).links().unsubscribing(mid, sig)
    view = None if message_id is None else await service.unsubscribe_page(state.db, message_id)
    if view is None:
        return _gone()
    return _unsubscribe_view(request, "test" if view["test"] else "ask", view)


async def _form_fields(request: Request) -> dict[str, list[str]] | None:
    """The posted form's fields (None: too large). A one-click POST carries none of ours."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_LIMIT:
            return None
    if "application/x-www-form-urlencoded" not in request.headers.get("content-type", ""):
        return {}
    return parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)


@public_router.post("/u/{mid}/{sig}")
async def unsubscribe(mid: str, sig: str, request: Request) -> Response:
    """The page's answer, and RFC 8058's one-click POST (which carries no CSRF token: the
    signed link is the proof). "Save preferences" leaves the unticked public groups and
    stays subscribed; anything else (one-click included) unsubscribes from all."""
    state = services(request)
    message_id = state.part(EmailConfig).links().unsubscribing(mid, sig)
    if message_id is None:
        return _gone()
    fields = await _form_fields(request)
    if fields is None:
        return _page("Too large", "<p>This request is too large.</p>", 413)
    view = await service.unsubscribe_page(state.db, message_id)
    if view is None:
        return _gone()
    if view["test"]:
        return _unsubscribe_view(request, "test", view)
    if fields.get("action", [""])[-1] == "save":
        await service.save_preferences(state.db, message_id, fields.get("keep", []))
        return _unsubscribe_view(request, "saved", view)
    if not await service.unsubscribe(state.db, message_id):
        return _gone()
    return _unsubscribe_view(request, "done", view)
