"""What a column of an uploaded file most likely is, from its header: the console's
column mapping is filled in with it (the person can change any choice before the import
starts). Headers are compared with case, spaces, underscores and hyphens ignored, so
that the exports of other tools map without a change: `Email Address`, `E-mail`,
`First Name`, `last_name`, `Phone Number`, `Mobile`...

The API's import takes its columns by their exact names (an unknown one is a 422), so
this guess is the console's only.
"""

from __future__ import annotations

import re

from activecommerce.contacts.bulk import CSV_COLUMNS

_IGNORED = re.compile(r"[\s_\-]+")

# Other tools' names for the import's columns, as `normalised` makes them.
ALIASES: dict[str, str] = {
    **{name.lower(): name for name in CSV_COLUMNS},
    "emailaddress": "email",
    "mail": "email",
    "first": "firstName",
    "givenname": "firstName",
    "forename": "firstName",
    "last": "lastName",
    "surname": "lastName",
    "familyname": "lastName",
    "phonenumber": "phone",
    "telephone": "phone",
    "mobile": "phone",
    "mobilephone": "phone",
    "mobilenumber": "phone",
    "cellphone": "phone",
    "tag": "tags",
    "group": "groups",
}


def normalised(header: str) -> str:
    """A header as the mapping compares it: case-folded, without spaces, underscores and
    hyphens."""
    return _IGNORED.sub("", header.casefold())


def suggest(header: str) -> str | None:
    """The import column (one of `CSV_COLUMNS`) a header names, or None when it names
    none of them."""
    return ALIASES.get(normalised(header))


def suggest_all(headers: list[str]) -> list[str | None]:
    """`suggest` for each column of a header row; a column that a column before it
    already takes (`Phone` and `Mobile`) is left out (None): an import names each of its
    columns once."""
    taken: set[str] = set()
    chosen: list[str | None] = []
    for header in headers:
        column = suggest(header)
        if column in taken:
            column = None
        if column is not None:
            taken.add(column)
        chosen.append(column)
    return chosen
