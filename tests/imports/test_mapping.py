"""The console's guess of what each column of an uploaded file is, from its header."""

from __future__ import annotations

import pytest

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
