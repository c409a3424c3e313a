"""What a column of an uploaded file most likely is, from its header: the console's
column mapping is filled in with it (the person can change any choice before the import
starts). Headers are compared with case, spaces, underscores and hyphens ignored, so
that the exports of other tools map without a change: `Email Address`, `E-mail`,
`First Name`, `last_name`, `Phone Number`, `Mobile`... With the account's custom fields
passed in, a header equal to a field's key or name (compared the same way) is that
field's column, `fields.<key>` (a built-in column's name wins, as in the import).

The API's import takes its columns by their exact names (an unknown one is a 422), so
this guess is the console's only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from activecommerce.contacts.bulk import CSV_COLUMNS
from activecommerce.fields.definitions import FieldDef
from activecommerce.imports.parsing import FIELD_PREFIX

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


def field_targets(defs: Mapping[str, FieldDef]) -> dict[str, str]:
    """The normalised keys and names of the account's fields -> their columns
    (`fields.<key>`); a key wins over another field's name, the first field made over
    a later one of the same name."""
    targets: dict[str, str] = {}
    ordered = sorted(defs.values(), key=lambda f: f.id)
    for field in ordered:
        targets.setdefault(normalised(field.name), FIELD_PREFIX + field.key)
    for field in ordered:
        targets[normalised(field.key)] = FIELD_PREFIX + field.key
    return targets


def suggest(header: str, defs: Mapping[str, FieldDef] | None = None) -> str | None:
    """The import column a header names (one of `CSV_COLUMNS`, or `fields.<key>` of one
    of the fields `defs`), or None when it names none of them."""
    return _suggest(header, field_targets(defs) if defs else {})


def _suggest(header: str, targets: Mapping[str, str]) -> str | None:
    name = normalised(header)
    return ALIASES.get(name) or targets.get(name)


def suggest_all(headers: list[str], defs: Mapping[str, FieldDef] | None = None) -> list[str | None]:
    """`suggest` for each column of a header row; a column that a column before it
    already takes (`Phone` and `Mobile`) is left out (None): an import names each of its
    columns once."""
    targets = field_targets(defs) if defs else {}
    taken: set[str] = set()
    chosen: list[str | None] = []
    for header in headers:
        column = _suggest(header, targets)
        if column in taken:
            column = None
        if column is not None:
            taken.add(column)
        chosen.append(column)
    return chosen
