"""The contacts pages in a real browser (SPEC §11): create, search, edit, filter, bulk
tag, export; a contact's page (tags, groups, a deal, an email, activity) and its
deletion; a CSV import through the mapping form; another account's contact."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import httpx
from browser import Signed, api_client, axe, made, status_of
from helpers import EMAIL, wait_until
from playwright.sync_api import Page, expect


def _put(api: httpx.Client, path: str) -> None:
    assert api.put(path).status_code == 204


def test_create_search_edit_filter_bulk_tag_and_export(
    signed_in: Signed, screenshot: Callable[[Page, str], Path]
) -> None:
    page = signed_in.page
    page.goto("/contacts")
    axe(page)
    page.get_by_role("button", name="New contact").click()
    page.get_by_label("Email").fill("not-an-email")
    page.get_by_role("button", name="Create contact").click()
    expect(page.locator("#f-email-help")).to_be_visible()  # the API's validation
    axe(page)
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("First name").fill("Ada")
    page.get_by_role("button", name="Create contact").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("ada@example.com")
    expect(page.get_by_role("status")).to_contain_text("Contact created")

    page.get_by_role("button", name="Edit", exact=True).click()
    axe(page)
    page.get_by_label("Last name").fill("Lovelace")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Contact saved")
    expect(page.locator("dl.fields")).to_contain_text("Lovelace")

    with api_client(signed_in) as api:
        people = {
            name: made(api, "/v3/contacts", {"email": f"{name}@example.com"})
            for name in ("ann", "bob", "cid")
        }
        vip = made(api, "/v3/contactTags", {"name": "vip"})
        _put(api, f"/v3/contacts/{people['cid']['id']}/tags/{vip['id']}")

    page.goto("/contacts")
    results = page.locator("#results")
    expect(results.get_by_role("checkbox")).to_have_count(4)
    page.get_by_label("Search").press_sequentially("ada", delay=30)  # htmx, as one types
    expect(results.get_by_role("checkbox")).to_have_count(1)
    expect(results).to_contain_text("ada@example.com")
    expect(page).to_have_url(re.compile(r"/contacts\?.*q=ada"))
    page.reload()  # the URL is the view: a bookmark shows the same
    expect(results.get_by_role("checkbox")).to_have_count(1)

    page.goto("/contacts")
    page.get_by_label("Tag", exact=True).select_option(label="vip")
    expect(results.get_by_role("checkbox")).to_have_count(1)
    expect(results).to_contain_text("cid@example.com")
    expect(page).to_have_url(re.compile(rf"tagId={vip['id']}"))

    page.goto("/contacts")
    page.get_by_label("Select ann@example.com").check()
    page.get_by_label("Select bob@example.com").check()
    page.get_by_label("Or a new tag").fill("Summer")
    page.get_by_role("button", name="Tag selected", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("2 contacts tagged")
    screenshot(page, "contacts")
    for name in ("ann", "bob"):
        page.goto(f"/contacts/{people[name]['id']}")
        expect(page.get_by_test_id("tags")).to_contain_text("Summer")
    page.goto(f"/contacts/{people['cid']['id']}")
    expect(page.get_by_test_id("tags")).not_to_contain_text("Summer")

    page.goto("/contacts")
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    text = Path(download.value.path()).read_text()
    assert text.startswith("email,firstName,lastName,phone,status,tags,groups")
    for email in ("ada@example.com", "ann@example.com", "bob@example.com", "cid@example.com"):
        assert email in text
    assert "ada@example.com,Ada,Lovelace" in text


def test_a_contacts_page_and_its_deletion(
    signed_in: Signed, screenshot: Callable[[Page, str], Path]
) -> None:
    page = signed_in.page
    page.get_by_role("button", name="Switch to sandbox").click()
    expect(page.get_by_test_id("env-badge")).to_have_text("Sandbox")
    with api_client(signed_in, "sandbox") as api:
        contact = made(api, "/v3/contacts", {"email": "eve@example.com", "firstName": "Eve"})
        cid = contact["id"]
        tag = made(api, "/v3/contactTags", {"name": "Gold"})
        group = made(api, "/v3/contactGroups", {"name": "Newsletter"})
        _put(api, f"/v3/contacts/{cid}/tags/{tag['id']}")
        _put(api, f"/v3/contacts/{cid}/groups/{group['id']}")
        pipeline = made(api, "/v3/pipelines", {"name": "Sales"})
        stage = made(api, "/v3/dealStages", {"pipelineId": pipeline["id"], "name": "Lead"})
        made(
            api,
            "/v3/deals",
            {
                "name": "Big order",
                "pipelineId": pipeline["id"],
                "stageId": stage["id"],
                "contact": cid,
            },
        )
        brand = made(api, "/v3/brands", {"name": "Shop", "postalAddress": "1 Main St"})
        campaign = made(
            api,
            "/v3/emailCampaigns",
            {**EMAIL, "brandId": brand["id"], "htmlContent": "<p>Hi</p>"},
        )
        made(
            api,
            f"/v3/emailCampaigns/{campaign['id']}/send",
            {"audience": {"groupIds": [group["id"]]}},
        )

        def sent() -> bool:
            return bool(api.get(f"/v3/emailCampaigns/{campaign['id']}").json()["status"] == "sent")

        wait_until(sent, 20, "the campaign to be sent")

        page.goto(f"/contacts/{cid}")
        expect(page.get_by_test_id("tags")).to_contain_text("Gold")
        expect(page.get_by_test_id("groups")).to_contain_text("Newsletter")
        expect(page.get_by_test_id("deals").get_by_role("link", name="Big order")).to_be_visible()
        emails = page.get_by_test_id("emails")
        expect(emails).to_contain_text("Campaign: Launch")
        expect(emails).to_contain_text("sent")
        activity = page.get_by_test_id("activity")
        for kind in ("contact.created", "contact.tagged", "contact.added_to_group", "deal.created"):
            expect(activity).to_contain_text(kind)
        expect(activity).to_contain_text("email.sent")
        expect(activity.locator("li").first).to_contain_text("email.sent")  # newest first
        axe(page)
        screenshot(page, "contact")

        page.get_by_role("button", name="Remove Gold").click()
        expect(page.get_by_role("status")).to_contain_text("removed")
        expect(page.get_by_test_id("tags")).not_to_contain_text("Gold")
        page.get_by_label("Or a new group named").fill("Buyers")
        page.get_by_role("button", name="Add group").click()
        expect(page.get_by_test_id("groups")).to_contain_text("Buyers")
        expect(page.get_by_test_id("activity").locator("li").first).to_contain_text(
            "contact.added_to_group"
        )

        page.get_by_role("button", name="Delete", exact=True).click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("Delete eve@example.com")
        axe(page)
        page.get_by_role("button", name="Delete contact").click()
        expect(page.get_by_role("status")).to_contain_text("Contact deleted")
        assert api.get(f"/v3/contacts/{cid}").status_code == 404


def test_a_csv_import_through_the_mapping_form(
    signed_in: Signed, screenshot: Callable[[Page, str], Path]
) -> None:
    page = signed_in.page
    page.goto("/contacts")
    page.get_by_role("button", name="Import CSV").click()
    axe(page)
    rows = "".join(f"person{i}@example.com,Person {i},x\r\n" for i in range(30))
    csv = f"Mail address,Given name,Notes\r\n{rows}not-an-email,Bad,y\r\n"
    page.get_by_label("CSV file").set_input_files(
        {"name": "people.csv", "mimeType": "text/csv", "buffer": csv.encode()}
    )
    page.get_by_role("button", name="Upload").click()
    page.get_by_label("Import Mail address as").select_option("email")
    page.get_by_label("Import Given name as").select_option("firstName")
    expect(page.get_by_label("Import Notes as")).to_have_value("ignore")
    axe(page)
    page.get_by_role("button", name="Start the import").click()
    expect(page.get_by_test_id("import-status")).to_have_text("completed", timeout=30_000)
    bar = page.get_by_label("Progress")
    expect(bar).to_have_attribute("value", "31")
    expect(bar).to_have_attribute("max", "31")
    expect(page.get_by_test_id("created")).to_have_text("30")
    expect(page.get_by_test_id("failed")).to_have_text("1")
    expect(page.get_by_test_id("import-errors")).to_contain_text("Line 32")
    axe(page)
    screenshot(page, "import")
    with api_client(signed_in) as api:
        found = api.get("/v3/contacts", params={"email": "person7@example.com"}).json()["data"]
        assert [c["firstName"] for c in found] == ["Person 7"]


def test_another_accounts_contact_is_a_404_page(signed_in: Signed) -> None:
    other = signed_in.server.new_account()
    key = other.account["liveApiKey"]
    with httpx.Client(base_url=signed_in.server.base, headers={"Api-Token": key}) as api:
        theirs = made(api, "/v3/contacts", {"email": "private@example.com"})
    page = signed_in.page
    assert status_of(page, f"/contacts/{theirs['id']}") == 404
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    expect(page.locator("body")).not_to_contain_text("private@example.com")
