"""Deals: a board per pipeline with a column per stage (its count and value
totals, its first cards, more on demand), moving a deal to another stage (drag and drop,
or the "Move to" form of each card), and the deal form. Every change goes through the
deals collection's flow (`web.resources`), as `PATCH /v3/deals/{id}` does, so the
`deal.updated` and `deal.stage_changed` events fire and automations follow."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from starlette.responses import Response

from activecommerce.contacts.service import contacts, emails_by_id
from activecommerce.deals.service import board_totals, deals
from activecommerce.kit.db import Database
from activecommerce.kit.fields import parse_id
from activecommerce.kit.problems import Problem, invalid
from activecommerce.kit.services import services
from activecommerce.pipelines.service import deal_stages, deal_statuses, pipelines
from activecommerce.web import resources
from activecommerce.web.console import Console, ConsoleContext, console_router, page, see_other
from activecommerce.web.forms import FormErrors, form_of, problem_text, whole_number

router = console_router()

CARDS = 20  # a column's first cards; "Load more" brings the next ones
# ISO 4217 currencies whose minor unit is not the hundredth (the API keeps minor units).
_ZERO_DECIMALS = ("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF")
_MINOR_DIGITS = {
    **dict.fromkeys([*_ZERO_DECIMALS, "UGX", "VND", "VUV", "XAF", "XOF", "XPF"], 0),
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
}


def minor_digits(currency: str) -> int:
    return _MINOR_DIGITS.get(currency, 2)


def money(value: int | None, currency: str) -> str:
    """Minor units shown as an amount: 123456 USD -> "1,234.56 USD"."""
    if value is None:
        return ""
    digits = minor_digits(currency)
    amount = Decimal(value).scaleb(-digits)
    return f"{amount:,.{digits}f} {currency}"


def amount_in(value: int | None, currency: str) -> str:
    """Minor units as the form shows them (no grouping): 123456 USD -> "1234.56"."""
    if value is None:
        return ""
    digits = minor_digits(currency)
    return f"{Decimal(value).scaleb(-digits):.{digits}f}"


def minor_units(text: str, currency: str) -> int | None:
    """A typed amount ("1200.50", "1,200") in the currency's minor units; a 422 if it is
    not one."""
    text = text.strip().replace(",", "").replace(" ", "")
    if not text:
        return None
    try:
        amount = Decimal(text)
    except InvalidOperation:
        amount = Decimal("NaN")
    digits = minor_digits(currency)
    minor = amount.scaleb(digits) if amount.is_finite() else amount
    if not minor.is_finite() or minor != minor.to_integral_value() or minor < 0:
        raise invalid("value", f"must be an amount such as 1200.50 ({digits} decimals at most)")
    return int(minor)


# ---------------------------------------------------------------- the board


@dataclass
class Column:
    stage: dict[str, Any]
    count: int = 0
    totals: list[str] = field(default_factory=list)
    cards: list[dict[str, Any]] = field(default_factory=list)
    more_url: str | None = None


@dataclass
class Board:
    pipelines: list[dict[str, Any]]
    pipeline: dict[str, Any] | None
    stages: list[dict[str, Any]]
    statuses: dict[str, dict[str, Any]]
    columns: list[Column]


def _db(ctx: Console) -> Database:
    return services(ctx.request).db


def _id_or_none(value: str | None) -> str | None:
    return value if value and parse_id(value) is not None else None


async def _cards(
    ctx: Console, stage_id: str, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of a stage's deals through the deals list (as GET /v3/deals?stageId=...),
    each with its contact's email, and the URL of the next page."""
    db = _db(ctx)
    result = await deals.list_rows(
        db,
        ctx.principal,
        page=1,
        page_size=CARDS,
        sort_by="createdAt",
        sort_order="asc",
        filters={"stageId": stage_id},
        cursor=cursor,
    )
    cards: list[dict[str, Any]] = result["data"]
    ids = sorted({int(c["contact"]) for c in cards if c["contact"]})
    emails = await emails_by_id(db, ctx.principal, ids) if ids else {}
    for card in cards:
        card["contactEmail"] = emails.get(card["contact"] or "")
        card["amount"] = money(card["value"], card["currency"])
    next_cursor = result["meta"]["nextCursor"]
    more = f"/deals/stages/{stage_id}/cards?{urlencode({'after': next_cursor})}"
    return cards, (more if next_cursor else None)


async def load_board(ctx: Console, pipeline_id: str | None) -> Board:
    """The chosen pipeline (else the first) with its columns in stage order."""
    all_pipelines = await resources.all_of(ctx, pipelines)
    chosen = next((p for p in all_pipelines if p["id"] == pipeline_id), None)
    if chosen is None and all_pipelines:
        chosen = all_pipelines[0]
    if chosen is None:
        return Board(all_pipelines, None, [], {}, [])
    stages = await resources.all_of(ctx, deal_stages, "order", pipelineId=chosen["id"])
    statuses = await resources.all_of(ctx, deal_statuses, "name", pipelineId=chosen["id"])
    columns = {s["id"]: Column(s) for s in stages}
    db = services(ctx.request).db
    for row in await board_totals(db, ctx.principal, int(chosen["id"])):
        column = columns.get(str(row["stage_id"]))
        if column is not None:
            column.count += int(row["deals"])
            column.totals.append(money(int(row["value"]), row["currency"]))
    for column in columns.values():
        if column.count:
            column.cards, column.more_url = await _cards(ctx, column.stage["id"], None)
    return Board(all_pipelines, chosen, stages, {s["id"]: s for s in statuses}, [*columns.values()])


def _board_page(ctx: Console, board: Board, *, status: int = 200) -> Response:
    return page(ctx, "deals/board.html", status=status, block="board", board=board)


@router.get("/deals")
async def board_page(ctx: ConsoleContext, pipeline: str | None = None) -> Response:
    return _board_page(ctx, await load_board(ctx, _id_or_none(pipeline)))


@router.get("/deals/stages/{stage_id}/cards")
async def more_cards(ctx: ConsoleContext, stage_id: str, after: str | None = None) -> Response:
    """The next cards of a column: for htmx, the cards and the next "Load more"; without
    JavaScript, a page of the stage's deals."""
    stage = await resources.one(ctx, deal_stages, stage_id)
    board = await load_board(ctx, stage["pipelineId"])
    try:
        cards, more_url = await _cards(ctx, stage["id"], after)
    except Problem:  # a cursor of another list: start again
        cards, more_url = await _cards(ctx, stage["id"], None)
    return page(
        ctx,
        "deals/column.html",
        block="cards",
        board=board,
        stage=stage,
        cards=cards,
        more_url=more_url,
    )


@router.post("/deals/{deal_id:int}/move")
async def move(ctx: ConsoleContext, deal_id: int) -> Response:
    """To another stage (drag and drop and the "Move to" form post here with htmx; the
    form also without it): PATCH /v3/deals/{id} {"stageId": ...}."""
    form = await form_of(ctx.request)
    deal = await resources.one(ctx, deals, str(deal_id))
    back = f"/deals?{urlencode({'pipeline': deal['pipelineId']})}"
    try:
        moved = await resources.patch(
            ctx, deals, str(deal_id), {"stageId": form.get("stageId", "")}
        )
    except Problem as problem:
        if ctx.htmx:  # the board as it is (the card back in place), with the reason
            board = await load_board(ctx, deal["pipelineId"])
            return page(
                ctx,
                "deals/board.html",
                block="board",
                board=board,
                board_error=problem_text(problem),
            )
        return see_other(ctx, back, problem_text(problem), "error")
    stage = await resources.one(ctx, deal_stages, moved["stageId"])
    message = f"Moved “{moved['name']}” to {stage['name']}."
    if ctx.htmx:  # the board in place, told which card moved (deals.js keeps it in view)
        board = await load_board(ctx, moved["pipelineId"])
        return page(
            ctx,
            "deals/board.html",
            block="board",
            board=board,
            moved={"id": deal_id, "message": message},
        )
    # Without JavaScript: the board from its top (the message, then the columns' headers),
    # not scrolled down to the card.
    return see_other(ctx, back, message)


# ---------------------------------------------------------------- the deal form

FORM_FIELDS = {"status": "status", "closeDate": "close_date", "stageId": "stage"}


async def _form_page(
    ctx: Console,
    pipeline_id: str | None,
    form: dict[str, str],
    *,
    deal: dict[str, Any] | None = None,
    errors: FormErrors | None = None,
    status: int = 200,
) -> Response:
    board = await load_board(ctx, pipeline_id)
    if board.pipeline is None:
        return see_other(
            ctx, "/deals/pipelines", "Create a pipeline with its stages first.", "error"
        )
    return page(
        ctx,
        "deals/form.html",
        status=status,
        board=board,
        stage_options=[(s["id"], s["name"]) for s in board.stages],
        status_options=[("", "No status")]
        + [(s["id"], s["name"]) for s in board.statuses.values()],
        deal=deal,
        form=form,
        errors=errors or FormErrors(),
    )


async def _contact_id(ctx: Console, text: str) -> str | None:
    """The contact a person named by email (found as GET /v3/contacts?email=...) or id."""
    text = text.strip()
    if not text:
        return None
    if "@" not in text:
        return text  # an id: the deals rules check it names a contact of the caller
    found = await contacts.list_rows(
        _db(ctx),
        ctx.principal,
        page=1,
        page_size=1,
        sort_by="createdAt",
        sort_order="asc",
        filters={"email": text},
    )
    if not found["data"]:
        raise invalid("contact", "matches no contact's email")
    return str(found["data"][0]["id"])


async def _values(ctx: Console, form: dict[str, str], pipeline_id: str) -> dict[str, Any]:
    """The form as a deal body (API names)."""
    currency = form.get("currency", "").strip().upper() or None
    return {
        "name": form.get("name", "").strip(),
        "pipelineId": pipeline_id,
        "stageId": form.get("stage", ""),
        "contact": await _contact_id(ctx, form.get("contact", "")),
        "value": minor_units(form.get("value", ""), currency or "USD"),
        "currency": currency,
        "closeDate": form.get("close_date", "").strip() or None,
        "duration": whole_number(form.get("duration", ""), 18),
        "status": form.get("status") or None,
    }


@router.get("/deals/new")
async def new_deal(
    ctx: ConsoleContext, pipeline: str | None = None, stage: str | None = None
) -> Response:
    return await _form_page(ctx, _id_or_none(pipeline), {"stage": stage or ""})


@router.post("/deals/new")
async def create_deal(ctx: ConsoleContext) -> Response:
    form = await form_of(ctx.request)
    pipeline_id = form.get("pipeline", "")
    try:
        values = await _values(ctx, form, pipeline_id)
        created = await resources.create(ctx, deals, values)
    except Problem as problem:
        errors = FormErrors.of(problem, FORM_FIELDS)
        return await _form_page(
            ctx, _id_or_none(pipeline_id), form, errors=errors, status=problem.status
        )
    back = f"/deals?{urlencode({'pipeline': created['pipelineId']})}#deal-{created['id']}"
    return see_other(ctx, back, f"Deal “{created['name']}” created.")


def _deal_form(deal: dict[str, Any], contact_email: str | None) -> dict[str, str]:
    return {
        "name": deal["name"],
        "stage": deal["stageId"],
        "contact": contact_email or deal["contact"] or "",
        "value": amount_in(deal["value"], deal["currency"]),
        "currency": deal["currency"],
        "close_date": str(deal["closeDate"] or ""),
        "duration": "" if deal["duration"] is None else str(deal["duration"]),
        "status": deal["status"] or "",
    }


@router.get("/deals/{deal_id:int}")
async def edit_deal(ctx: ConsoleContext, deal_id: int) -> Response:
    deal = await resources.one(ctx, deals, str(deal_id))
    email = None
    if deal["contact"]:
        email = (await emails_by_id(_db(ctx), ctx.principal, [int(deal["contact"])])).get(
            deal["contact"]
        )
    return await _form_page(ctx, deal["pipelineId"], _deal_form(deal, email), deal=deal)


@router.post("/deals/{deal_id:int}")
async def save_deal(ctx: ConsoleContext, deal_id: int) -> Response:
    deal = await resources.one(ctx, deals, str(deal_id))
    form = await form_of(ctx.request)
    try:
        values = await _values(ctx, form, deal["pipelineId"])
        saved = await resources.patch(ctx, deals, str(deal_id), values)
    except Problem as problem:
        errors = FormErrors.of(problem, FORM_FIELDS)
        return await _form_page(
            ctx, deal["pipelineId"], form, deal=deal, errors=errors, status=problem.status
        )
    back = f"/deals?{urlencode({'pipeline': saved['pipelineId']})}#deal-{deal_id}"
    return see_other(ctx, back, f"Deal “{saved['name']}” saved.")


@router.post("/deals/{deal_id:int}/delete")
async def delete_deal(ctx: ConsoleContext, deal_id: int) -> Response:
    deal = await resources.one(ctx, deals, str(deal_id))
    await resources.delete(ctx, deals, str(deal_id))
    back = f"/deals?{urlencode({'pipeline': deal['pipelineId']})}"
    return see_other(ctx, back, f"Deal “{deal['name']}” deleted.")
