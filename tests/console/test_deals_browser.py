"""The deals board, the deal form and the pipelines page in Chromium (SPEC §11): moving a
deal by dragging and by the keyboard, each checked through the API, the columns' counts
and totals following; form errors; stages and status colours; accessibility."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from browser import Signed, axe
from playwright.sync_api import Locator, Page, ViewportSize, expect


@pytest.fixture
def api(signed_in: Signed) -> Iterator[httpx.Client]:
    """The API with a live key of the signed-in owner's account (the console opens in live)."""
    key = signed_in.owner.account["liveApiKey"]
    with httpx.Client(
        base_url=signed_in.server.base, headers={"Authorization": f"Bearer {key}"}, timeout=10
    ) as client:
        yield client


def _post(api: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = api.post(path, json=body)
    assert answer.status_code == 201, answer.text
    result: dict[str, Any] = answer.json()
    return result


def _sales(api: httpx.Client) -> dict[str, Any]:
    """A pipeline with three stages, a status, a contact and three deals."""
    pipeline = _post(api, "/v3/pipelines", {"name": "Sales", "currency": "USD"})
    pid = pipeline["id"]
    stages = [
        _post(api, "/v3/dealStages", {"pipelineId": pid, "name": name, "order": n})
        for n, name in enumerate(["Lead", "Qualified", "Won"], 1)
    ]
    hot = _post(api, "/v3/dealStatuses", {"pipelineId": pid, "name": "Hot", "color": "#c62828"})
    ada = _post(api, "/v3/contacts", {"email": "ada@example.com", "firstName": "Ada"})
    lead, qualified, _won = (s["id"] for s in stages)
    deals = [
        _post(api, "/v3/deals", {"name": name, "pipelineId": pid, "stageId": stage, **more})
        for name, stage, more in [
            ("Acme renewal", lead, {"value": 120000, "contact": ada["id"], "status": hot["id"]}),
            ("Globex", lead, {"value": 50000}),
            ("Initech", qualified, {"value": 7500}),
        ]
    ]
    return {"pipeline": pipeline, "stages": stages, "status": hot, "deals": deals}


def _totals(page: Page, stage: dict[str, Any]) -> Any:
    return expect(page.get_by_test_id(f"totals-{stage['id']}"))


def _stage_of(api: httpx.Client, deal: dict[str, Any]) -> str:
    answer = api.get(f"/v3/deals/{deal['id']}")
    assert answer.status_code == 200
    return str(answer.json()["stageId"])


def _drag(page: Page, card: Locator, column: Locator) -> None:
    """A card dragged onto a column's list (mouse moves: SortableJS's pointer drag)."""
    source = card.bounding_box()
    target = column.bounding_box()
    assert source is not None
    assert target is not None
    page.mouse.move(source["x"] + 5, source["y"] + 5)
    page.mouse.down()
    page.mouse.move(source["x"] + 15, source["y"] + 15, steps=3)
    page.mouse.move(target["x"] + target["width"] / 2, target["y"] + 20, steps=15)
    page.mouse.up()


def _move_by_keyboard(page: Page, deal: str, stage: str) -> None:
    """The card's "Move to" select, then Tab to its button and Enter."""
    select = page.get_by_label(f"Move {deal} to")
    select.focus()
    select.select_option(label=stage)
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name=f"Move {deal}")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text(f"Moved “{deal}” to {stage}.")


def test_move_a_deal_by_dragging_and_by_the_keyboard(
    signed_in: Signed, api: httpx.Client, screenshot: Callable[[Page, str], Path]
) -> None:
    page = signed_in.page
    sales = _sales(api)
    lead, qualified, won = sales["stages"]
    acme, globex, _initech = sales["deals"]
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Deals").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Deals")
    _totals(page, lead).to_have_text("2 deals · 1,700.00 USD")
    _totals(page, won).to_have_text("0 deals")
    card = page.locator(f"#deal-{acme['id']}")
    expect(card).to_contain_text("ada@example.com")
    expect(card).to_contain_text("Hot")
    expect(card).to_contain_text("1,200.00 USD")
    axe(page)
    screenshot(page, "deals")

    # Drag Acme's card onto the Won column.
    _drag(page, card.locator(".deal-value"), page.locator(f'ol.cards[data-stage-id="{won["id"]}"]'))
    _totals(page, won).to_have_text("1 deal · 1,200.00 USD")
    _totals(page, lead).to_have_text("1 deal · 500.00 USD")
    expect(
        page.locator(f'ol.cards[data-stage-id="{won["id"]}"] #deal-{acme["id"]}')
    ).to_be_visible()
    assert _stage_of(api, acme) == won["id"]

    # The keyboard way: the card's "Move to" select and its button.
    _move_by_keyboard(page, "Globex", "Qualified")
    _totals(page, qualified).to_have_text("2 deals · 575.00 USD")
    _totals(page, lead).to_have_text("0 deals")
    assert _stage_of(api, globex) == qualified["id"]
    axe(page)


def test_create_and_edit_a_deal_with_errors_shown(signed_in: Signed, api: httpx.Client) -> None:
    page = signed_in.page
    sales = _sales(api)
    page.goto(f"/deals?pipeline={sales['pipeline']['id']}")
    page.get_by_role("button", name="New deal").click()
    page.get_by_label("Title").fill("Umbrella")
    page.get_by_label("Stage").select_option(label="Qualified")
    page.get_by_label("Value").fill("ten dollars")
    page.get_by_label("Contact").fill("ada@example.com")
    page.get_by_label("Status").select_option(label="Hot")
    page.get_by_role("button", name="Create deal").click()
    expect(page.get_by_role("alert")).to_have_text("Check the fields marked below.")
    value = page.get_by_label("Value")
    expect(value).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#f-value-help")).to_contain_text("must be an amount")
    expect(page.get_by_label("Title")).to_have_value("Umbrella")  # kept
    axe(page)
    value.fill("2,500.25")
    page.get_by_label("Close date").fill("2026-12-31")
    page.get_by_role("button", name="Create deal").click()
    expect(page.get_by_role("status")).to_contain_text("Deal “Umbrella” created.")
    qualified = sales["stages"][1]
    _totals(page, qualified).to_have_text("2 deals · 2,575.25 USD")
    created = next(d for d in api.get("/v3/deals").json()["data"] if d["name"] == "Umbrella")
    assert (created["value"], created["stageId"], created["closeDate"]) == (
        250025,
        qualified["id"],
        "2026-12-31",
    )
    assert created["status"] == sales["status"]["id"]

    page.get_by_role("link", name="Umbrella").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Edit deal")
    expect(page.get_by_label("Contact")).to_have_value("ada@example.com")
    page.get_by_label("Title").fill("Umbrella Corp")
    page.get_by_role("button", name="Save deal").click()
    expect(page.get_by_role("status")).to_contain_text("Deal “Umbrella Corp” saved.")
    assert api.get(f"/v3/deals/{created['id']}").json()["name"] == "Umbrella Corp"

    page.get_by_role("link", name="Umbrella Corp").click()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete deal").click()
    expect(page.get_by_role("status")).to_contain_text("deleted")
    assert api.get(f"/v3/deals/{created['id']}").status_code == 404


def test_manage_pipelines_stages_and_status_colours(signed_in: Signed, api: httpx.Client) -> None:
    page = signed_in.page
    sales = _sales(api)
    page.goto("/deals")
    page.get_by_role("link", name="Pipelines, stages and statuses").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Pipelines, stages and statuses")
    axe(page)

    page.get_by_label("Name of the new pipeline").fill("Partners")
    page.get_by_label("Currency of the new pipeline").fill("eur")
    page.get_by_role("button", name="Create pipeline").click()
    expect(page.get_by_role("status")).to_contain_text("Pipeline “Partners” created.")
    partners = [p for p in api.get("/v3/pipelines").json()["data"] if p["name"] == "Partners"]
    assert partners[0]["currency"] == "EUR"

    page.get_by_label("Name of a new stage of Partners").fill("Intro")
    page.get_by_role("button", name="Add stage to Partners").click()
    expect(page.get_by_role("status")).to_contain_text("Stage “Intro” created.")
    page.get_by_label("Name of stage Intro").fill("First call")
    page.get_by_role("button", name="Save stage Intro").click()
    expect(page.get_by_role("status")).to_contain_text("Stage “First call” saved.")
    stages = api.get("/v3/dealStages", params={"pipelineId": partners[0]["id"]}).json()["data"]
    assert [(s["name"], s["order"]) for s in stages] == [("First call", 1)]

    # A status's colour, with the colour input.
    page.get_by_label("Colour of status Hot").fill("#1565c0")
    page.get_by_role("button", name="Save status Hot").click()
    expect(page.get_by_role("status")).to_contain_text("Status “Hot” saved.")
    status = api.get(f"/v3/dealStatuses/{sales['status']['id']}").json()
    assert status["color"] == "#1565c0"
    page.get_by_label("Name of a new status of Partners").fill("Cold")
    page.get_by_label("Colour of a new status of Partners").fill("#00838f")
    page.get_by_role("button", name="Add status to Partners").click()
    expect(page.get_by_role("status")).to_contain_text("Status “Cold” created.")

    # A refused name is shown next to its field; a stage with deals stays (409).
    page.get_by_label("Name of stage Lead").fill("")
    page.get_by_role("button", name="Save stage Lead").click()
    expect(page.get_by_label("Name of stage Lead")).to_have_attribute("aria-invalid", "true")
    axe(page)
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete stage Lead").click()
    expect(page.get_by_role("alert")).to_contain_text("still has deals")
    assert api.get(f"/v3/dealStages/{sales['stages'][0]['id']}").status_code == 200


# ---------------------------------------------------------------- the board's layout

PHONE = ViewportSize(width=390, height=844)
LAPTOP = ViewportSize(width=1366, height=768)
STAGES = ["Lead", "Contacted", "Qualified", "Proposal sent", "Negotiation", "Won"]
LAYOUT = """() => {
  const box = (e) => { const r = e.getBoundingClientRect();
    return {left: r.left, right: r.right, top: r.top, bottom: r.bottom, width: r.width,
            height: r.height}; };
  const board = document.getElementById('board');
  return {
    pageWidth: document.documentElement.scrollWidth, innerWidth, innerHeight, scrollX, scrollY,
    board: {...box(board), scrollLeft: board.scrollLeft},
    columns: [...board.querySelectorAll('.board-column')].map(
      (c) => ({...box(c), name: c.querySelector('h2').textContent,
               header: box(c.querySelector('h2'))})),
  };
}"""


def _long_board(api: httpx.Client) -> dict[str, Any]:
    """Six stages (more than a laptop shows at once), twelve deals in the first, two in
    each of the others: a column taller than the screen, cards in the last columns."""
    pipeline = _post(api, "/v3/pipelines", {"name": "Pipeline", "currency": "USD"})
    pid = pipeline["id"]
    stages = [
        _post(api, "/v3/dealStages", {"pipelineId": pid, "name": name, "order": n})
        for n, name in enumerate(STAGES, 1)
    ]
    for n in range(1, 13):
        _post(api, "/v3/deals", {"name": f"Lead deal {n}", "pipelineId": pid,
                                 "stageId": stages[0]["id"], "value": 10000 * n})  # fmt: skip
    for stage in stages[1:]:
        for n in (1, 2):
            _post(api, "/v3/deals", {"name": f"{stage['name']} deal {n}", "pipelineId": pid,
                                     "stageId": stage["id"], "value": 5000})  # fmt: skip
    return {"pipeline": pipeline, "stages": stages}


def _open_long_board(page: Page, api: httpx.Client, viewport: ViewportSize) -> dict[str, Any]:
    """The window at `viewport`, on the board of `_long_board`."""
    page.set_viewport_size(viewport)
    board = _long_board(api)
    page.goto(f"/deals?pipeline={board['pipeline']['id']}")
    return board


def _layout(page: Page) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate(LAYOUT)
    return result


def _within(inner: dict[str, Any], outer: dict[str, Any], what: str) -> None:
    """`inner`'s box lies inside `outer`'s horizontally (one pixel of rounding)."""
    assert inner["left"] >= outer["left"] - 1, what
    assert inner["right"] <= outer["right"] + 1, what


def _headers_in_view(m: dict[str, Any]) -> None:
    """Every column's header lies inside the window vertically (the row of headers is in
    view), and the page has not scrolled sideways."""
    assert m["scrollX"] == 0
    for column in m["columns"]:
        header = column["header"]
        assert header["top"] >= 0, column["name"]
        assert header["bottom"] <= m["innerHeight"], column["name"]


@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["1366x768", "390x844"])
def test_the_board_scrolls_inside_itself_never_the_page(
    signed_in: Signed, api: httpx.Client, viewport: ViewportSize
) -> None:
    page = signed_in.page
    _open_long_board(page, api, viewport)
    m = _layout(page)
    # The page is never wider than the window; the board stays inside it and scrolls.
    assert m["pageWidth"] <= m["innerWidth"], m["pageWidth"]
    assert m["board"]["left"] >= 0
    assert m["board"]["right"] <= m["innerWidth"]
    # The whole board (its columns' headers and its scroll bar) fits on one screen.
    assert m["board"]["height"] <= m["innerHeight"], m["board"]["height"]
    assert [c["name"] for c in m["columns"]] == STAGES
    assert all(c["width"] >= 240 for c in m["columns"]), [c["width"] for c in m["columns"]]
    if viewport is LAPTOP:  # the first four columns at once, none cut
        for column in m["columns"][:4]:
            _within(column, m["board"], column["name"])
    # Every column is reachable by scrolling the board only.
    for n, name in enumerate(STAGES):
        page.evaluate(
            """(n) => { const board = document.getElementById('board');
              const column = board.querySelectorAll('.board-column')[n];
              board.scrollLeft += column.getBoundingClientRect().left
                - board.getBoundingClientRect().left; }""",
            n,
        )
        m = _layout(page)
        _within(m["columns"][n], m["board"], name)
        assert m["scrollX"] == 0, name
        assert m["pageWidth"] <= m["innerWidth"], name
    # The first column's last card: reachable by scrolling that column, the headers stay.
    page.evaluate("() => { document.getElementById('board').scrollLeft = 0; }")
    last = page.get_by_role("link", name="Lead deal 12")
    last.focus()
    expect(last).to_be_in_viewport()
    _headers_in_view(_layout(page))
    axe(page)


@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["1366x768", "390x844"])
def test_a_move_by_the_keyboard_keeps_the_column_headers_in_view(
    signed_in: Signed, api: httpx.Client, viewport: ViewportSize
) -> None:
    page = signed_in.page
    board = _open_long_board(page, api, viewport)
    lead, _contacted, qualified = board["stages"][:3]
    page.evaluate("() => document.getElementById('board').scrollIntoView({block: 'start'})")
    before = _layout(page)
    _headers_in_view(before)

    # The first column's last card, moved with its "Move to" select and button.
    _move_by_keyboard(page, "Lead deal 12", "Qualified")
    _totals(page, qualified).to_have_text("3 deals · 1,300.00 USD")
    _totals(page, lead).to_have_text("11 deals · 6,600.00 USD")
    after = _layout(page)
    assert after["scrollY"] == before["scrollY"]  # no jump of the page
    _headers_in_view(after)
    # The focus follows the card to its new column, which the board shows.
    moved = page.get_by_role("button", name="Move Lead deal 12")
    expect(moved).to_be_focused()
    expect(moved).to_be_in_viewport()
    target = next(c for c in after["columns"] if c["name"] == "Qualified")
    _within(target, after["board"], "Qualified")
    if viewport is LAPTOP:  # both columns fit: the board did not scroll
        assert after["board"]["scrollLeft"] == before["board"]["scrollLeft"] == 0
    axe(page)


def test_a_drag_keeps_the_board_where_it_was(signed_in: Signed, api: httpx.Client) -> None:
    page = signed_in.page
    won = _open_long_board(page, api, LAPTOP)["stages"][-1]
    # Scrolled to the last columns, the page to the board's top.
    page.evaluate(
        """() => { const board = document.getElementById('board');
          board.scrollIntoView({block: 'start'}); board.scrollLeft = board.scrollWidth; }"""
    )
    before = _layout(page)
    assert before["board"]["scrollLeft"] > 0
    won_list = page.locator(f'ol.cards[data-stage-id="{won["id"]}"]')
    _drag(page, page.get_by_role("link", name="Negotiation deal 1"), won_list)
    _totals(page, won).to_have_text("3 deals · 150.00 USD")
    after = _layout(page)
    assert after["scrollY"] == before["scrollY"]
    assert after["board"]["scrollLeft"] == before["board"]["scrollLeft"]
    _headers_in_view(after)
    expect(won_list.get_by_role("link", name="Negotiation deal 1")).to_be_in_viewport()
