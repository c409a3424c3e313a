"""The segment builder in a real browser: a two-rule segment built by choosing, its
live count and sample, saved, and its contacts listed; at phone width too (axe clean,
no sideways scrolling)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from browser import Signed, api_client, axe, fits, made
from playwright.sync_api import Page, expect


def test_build_a_two_rule_segment_see_its_count_and_save_it(
    signed_in: Signed, screenshot: Callable[[Page, str], Path]
) -> None:
    page = signed_in.page
    with api_client(signed_in) as api:
        vip = made(api, "/v3/contactTags", {"name": "vip"})
        for name in ("ann", "bob", "cid"):
            contact = made(api, "/v3/contacts", {"email": f"{name}@shop.io"})
            if name != "bob":
                assert api.put(f"/v3/contacts/{contact['id']}/tags/{vip['id']}").status_code == 204
        made(api, "/v3/contacts", {"email": "dan@elsewhere.io"})

    page.goto("/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Segments").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Segments")
    axe(page)
    page.get_by_role("button", name="New segment").click()
    page.get_by_label("Name").fill("Shop VIPs")
    count = page.get_by_test_id("segment-count")
    expect(count).to_contain_text("4 contacts")  # the first rule: email contains ""

    first = page.get_by_role("group", name="Rule 1", exact=True)
    first.get_by_label("Field").select_option(label="Email")
    first.get_by_label("Comparison").select_option(label="ends with")
    page.wait_for_load_state("networkidle")  # the builder shown again for the new operator
    first.get_by_label("Value").fill("@shop.io")
    expect(count).to_contain_text("3 contacts")

    page.get_by_role("button", name="Add a rule", exact=True).click()
    second = page.get_by_role("group", name="Rule 2", exact=True)
    second.get_by_label("What").select_option(label="A tag")
    expect(second.get_by_label("Tag", exact=True)).to_be_visible()  # the builder re-rendered
    second.get_by_label("Tag", exact=True).select_option(label="vip")
    expect(count).to_contain_text("2 contacts")
    sample = page.get_by_test_id("sample")
    expect(sample).to_contain_text("ann@shop.io")
    expect(sample).to_contain_text("cid@shop.io")
    expect(sample).not_to_contain_text("bob@shop.io")

    page.get_by_label("Contacts that meet").select_option(label="any of")
    expect(count).to_contain_text("3 contacts")
    page.get_by_label("Contacts that meet").select_option(label="all of")
    expect(count).to_contain_text("2 contacts")
    axe(page)
    screenshot(page, "segment-builder")

    page.get_by_role("button", name="Save segment").click()
    expect(page.get_by_role("status")).to_contain_text("Segment saved")
    row = page.get_by_role("row", name=re.compile("Shop VIPs"))
    row.get_by_role("link", name=re.compile("Contacts")).click()
    expect(page).to_have_url(re.compile(r"/contacts\?segmentId=\d+"))
    expect(page.get_by_test_id("total")).to_have_text("2 contacts")
    expect(page.get_by_label("Segment")).to_have_value(re.compile(r"\d+"))
    with api_client(signed_in) as api:
        (saved,) = api.get("/v3/segments").json()["data"]
    assert saved["conditions"] == {
        "all": [
            {"field": "email", "op": "ends_with", "value": "@shop.io"},
            {"tag": vip["id"], "has": True},
        ]
    }


def test_the_builder_at_phone_width(signed_in: Signed) -> None:
    page = signed_in.page
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/segments/new")
    page.get_by_role("button", name="Add a group").click()
    group = page.get_by_role("group", name="Group 2", exact=True)
    expect(group).to_be_visible()
    group.get_by_role("button", name="Add a rule to group 2").click()
    expect(page.get_by_role("group", name="Rule 2.2", exact=True)).to_be_visible()
    page.get_by_role("group", name="Rule 2.1", exact=True).get_by_label("What").select_option(
        label="Email activity"
    )
    expect(
        page.get_by_role("group", name="Rule 2.1", exact=True).get_by_label("Activity")
    ).to_be_visible()
    expect(page.get_by_test_id("segment-count")).to_be_visible()
    axe(page)
    fits(page)
    page.goto("/segments")
    axe(page)
    fits(page)
