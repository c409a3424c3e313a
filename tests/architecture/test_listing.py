"""Lists: the generic query object in `kit/` knows nothing of one collection's needs (a
text index, maintained counts); a collection that needs them brings its own."""

import importlib
import re
from pathlib import Path

import activecommerce
from activecommerce.contacts.listing import ContactListQuery
from activecommerce.contacts.service import contacts
from activecommerce.kit.listing import ListFilter, ListQuery
from activecommerce.kit.resource import Resource

SRC = Path(activecommerce.__file__).parent
# What only the contacts list uses: SQLite's text index, the counts its triggers keep.
CONTACTS_ONLY = re.compile(r"_fts|\bfts\b|\bMATCH\b|contact_counts|\bcounts_table\b")


def _resources() -> list[Resource]:
    found: dict[int, Resource] = {}
    for path in sorted(SRC.glob("*/service.py")):
        module = importlib.import_module(f"activecommerce.{path.parent.name}.service")
        for value in vars(module).values():
            if isinstance(value, Resource):
                found[id(value)] = value
    return list(found.values())


def test_kit_lists_know_no_collection() -> None:
    mentions = [
        f"{path.name}: {match[0]}"
        for path in (SRC / "kit" / "listing.py", SRC / "kit" / "resource.py")
        for match in CONTACTS_ONLY.finditer(path.read_text())
    ]
    assert mentions == []


def test_only_contacts_list_their_own_way() -> None:
    resources = _resources()
    assert len(resources) >= 10  # brands, tags, groups, deals, pipelines' parts...
    assert type(contacts.lists) is ContactListQuery
    for resource in resources:
        if resource is not contacts:
            assert type(resource.lists) is ListQuery, resource.collection
            assert all(type(f) is ListFilter for f in resource.filters), resource.collection
