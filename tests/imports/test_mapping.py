"""The console's guess of what each column of an uploaded file is, from its header."""

from __future__ import annotations

import pytest

from activecommerce.fields.definitions import FieldDef
from activecommerce.imports.mapping import suggest, suggest_all


@pytest.mark.parametrize(
    ("header", "column"),
    [
        ("email", "email"),
        ("Email Address", "email"),
        ("E-mail", "email"),
        ("EMAIL_ADDRESS", "email"),
        (" e - mail ", "email"),
        ("First Name", "firstName"),
        ("first_name", "firstName"),
        ("firstName", "firstName"),
        ("Last Name", "lastName"),
        ("last-name", "lastName"),
        ("Surname", "lastName"),
        ("Phone Number", "phone"),
        ("phone", "phone"),
        ("Mobile", "phone"),
        ("mobile_phone", "phone"),
        ("Status", "status"),
        ("Tags", "tags"),
        ("groups", "groups"),
        ("Company", None),
        ("", None),
        ("E.mail", None),  # only case, spaces, underscores and hyphens are ignored
    ],
)
def test_common_headers_are_suggested(header: str, column: str | None) -> None:
    assert suggest(header) == column


def test_a_column_already_taken_is_not_suggested_twice() -> None:
    assert suggest_all(["Phone Number", "Email", "Mobile", "Notes", "E-mail"]) == [
        "phone",
        "email",
        None,
        None,
        None,
    ]


def test_the_accounts_fields_are_suggested_by_key_or_name() -> None:
    defs = {
        "home_city": FieldDef(1, "home_city", "Home City", "text", (), False, None),
        "plan": FieldDef(2, "plan", "Tier", "dropdown", ("Free",), False, None),
        "tier": FieldDef(3, "tier", "Level", "text", (), False, None),
        "email2": FieldDef(4, "email2", "Email", "text", (), False, None),
    }
    assert suggest("home-city", defs) == "fields.home_city"
    assert suggest("HOME CITY", defs) == "fields.home_city"
    assert suggest("Plan", defs) == "fields.plan"
    assert suggest("tier", defs) == "fields.tier"  # a key wins over another field's name
    assert suggest("Email", defs) == "email"  # a built-in column wins
    assert suggest("home_city") is None  # without the account's fields
    assert suggest_all(["E-mail", "Home City", "home_city", "Notes"], defs) == [
        "email",
        "fields.home_city",
        None,  # taken by the column before
        None,
    ]
