"""Segments: a named condition tree over the account's contacts (`segments.conditions`),
checked when written, evaluated by the database whenever it is read: its preview (a
count and a sample), its contacts (the contacts list filtered by it), and the other
domains' questions (which segments name this tag?)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple, Unpack

import orjson

from activecommerce.contacts import service as contacts_service
from activecommerce.contacts.service import contacts
from activecommerce.fields.definitions import key_of
from activecommerce.fields.service import contact_fields
from activecommerce.groups.service import contact_groups
from activecommerce.kit.db import Connection, Database
from activecommerce.kit.fields import patch_model_of
from activecommerce.kit.named import NAME_SORTS
from activecommerce.kit.pagination import CursorEnvelope, Paging
from activecommerce.kit.principal import Principal
from activecommerce.kit.problems import conflict
from activecommerce.kit.repository import Scoped
from activecommerce.kit.resource import DeleteGuard, Resource, Rules, require_ref
from activecommerce.segments import models, repository
from activecommerce.segments.conditions import (
    DealLeaf,
    EmailLeaf,
    FieldLeaf,
    GroupLeaf,
    Leaf,
    TagLeaf,
    check,
    leaves,
    parse,
)
from activecommerce.segments.matching import planned
from activecommerce.segments.schemas import SegmentIn, SegmentOut
from activecommerce.tags.service import contact_tags

SAMPLE_SIZE = 10


class SegmentRules(Rules[SegmentIn]):
    async def prepare(
        self,
        conn: Connection,
        principal: Principal,
        new: SegmentIn,
        current: dict[str, Any] | None,
    ) -> dict[str, Any]:
        values = await super().prepare(conn, principal, new, current)
        checked = await check(conn, principal, new.conditions, "conditions")
        # The tags and groups it names are share-locked until the write commits, so that
        # a delete of one (which refuses while a segment names it) cannot pass in between.
        for leaf in leaves(checked.node):
            if isinstance(leaf, TagLeaf):
                await require_ref(conn, principal, contact_tags, f"{leaf.at}.tag", leaf.tag)
            elif isinstance(leaf, GroupLeaf):
                await require_ref(conn, principal, contact_groups, f"{leaf.at}.group", leaf.group)
        values["conditions"] = normalised(new.conditions)
        return values


segments = Resource(
    collection="segments",
    event_name="segment",
    table=models.segments,
    title="segment",
    create_model=SegmentIn,
    patch_model=patch_model_of(SegmentIn),
    out_model=SegmentOut,
    sortable=NAME_SORTS,
    rules=SegmentRules(),
)

# The keys of a checked tree whose values are ids: written as strings, as the API
# writes ids.
_ID_KEYS = frozenset({"tag", "group", "campaignId", "pipelineId", "stageId", "statusId"})


def normalised(tree: Any) -> Any:
    """A checked tree as it is stored and shown: the same, with every id a string."""
    if isinstance(tree, list):
        return [normalised(node) for node in tree]
    if not isinstance(tree, dict):
        return tree
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if key in _ID_KEYS and value is not None:
            out[key] = str(int(value))  # checked: digits, no sign; "007" is "7"
        elif key in ("all", "any", "not", "deal"):
            out[key] = normalised(value)
        else:
            out[key] = value
    return out


# ---------------------------------------------------------------- evaluated


async def preview(db: Database, principal: Principal, tree: Any) -> dict[str, Any]:
    """How many contacts `tree` matches (exactly, every status) and up to ten of them,
    the newest first, without saving anything. Both reads run off the event loop on
    SQLite (`scan`)."""
    found = await planned(db, principal, await check(db, principal, tree, "conditions"))
    count = await contacts_service.count_matching(
        db, principal, found.where, scope=found.scopes.count
    )
    return {
        "count": count or 0,
        "sample": await contacts_service.newest_matching(
            db, principal, found.where, scope=found.scopes.rows, limit=SAMPLE_SIZE
        ),
    }


async def contacts_of(
    db: Database, principal: Principal, segment_id: str, **page: Unpack[Paging]
) -> CursorEnvelope:
    """The contacts the segment matches: the contacts list filtered by it (its paging,
    sorting, cursor, and an exact total). A 404 when the caller has no such segment."""
    row = await segments.get_row(db, principal, segment_id)
    return await contacts.list_rows(db, principal, filters={"segmentId": str(row["id"])}, **page)


async def conditions_by_id(
    db: Database | Connection, principal: Principal, segment_ids: Sequence[int]
) -> dict[int, str]:
    """The stored trees (JSON text) of the caller's segments among `segment_ids`, by id
    (another account's, or a deleted one, is missing)."""
    return await repository.conditions_by_id(db, principal, segment_ids)


# ---------------------------------------------------------------- what names what


class Using(NamedTuple):
    """A segment that names something."""

    id: int
    name: str


async def segments_using(
    db: Scoped | Connection | Database,
    principal: Principal,
    *,
    tag: int | None = None,
    group: int | None = None,
    field_key: str | None = None,
    campaign: int | None = None,
    pipeline: int | None = None,
    stage: int | None = None,
    status: int | None = None,
) -> list[Using]:
    """The caller's segments whose conditions name this tag, group, custom field (by
    key, `fields.<key>`), campaign, or deal pipeline / stage / status (give one), by id.
    The stored JSON is searched first (ids are stored as strings, compact), then each
    candidate's tree is walked to confirm."""
    scoped = db if isinstance(db, Scoped) else Scoped(db, principal)
    wanted = [
        (key, value)
        for key, value in (
            ("tag", tag),
            ("group", group),
            ("fields.", field_key),
            ("campaignId", campaign),
            ("pipelineId", pipeline),
            ("stageId", stage),
            ("statusId", status),
        )
        if value is not None
    ]
    if len(wanted) != 1:
        raise ValueError("name exactly one thing that segments may use")
    ((key, value),) = wanted
    fragment = (
        orjson.dumps(f"fields.{value}").decode()
        if key == "fields."
        else f'"{key}":{orjson.dumps(str(value)).decode()}'
    )
    found = []
    for row in await repository.mentioning(scoped, [fragment]):
        if any(_names(leaf, key, value) for leaf in leaves(parse(orjson.loads(row["conditions"])))):
            found.append(Using(int(row["id"]), row["name"]))
    return found


def _names(leaf: Leaf, key: str, value: Any) -> bool:
    if key == "fields.":
        return isinstance(leaf, FieldLeaf) and leaf.field == f"fields.{value}"
    target = int(value)
    if key == "tag":
        return isinstance(leaf, TagLeaf) and leaf.tag == target
    if key == "group":
        return isinstance(leaf, GroupLeaf) and leaf.group == target
    if key == "campaignId":
        return isinstance(leaf, EmailLeaf) and leaf.campaign == target
    if not isinstance(leaf, DealLeaf):
        return False
    return {"pipelineId": leaf.pipeline, "stageId": leaf.stage, "statusId": leaf.status}[
        key
    ] == target


def describe(found: list[Using]) -> str:
    """The segments, as a 409's detail names them."""
    return ", ".join(f"{using.id} ({using.name!r})" for using in found)


def _refuse_if_used(what: str, key: str) -> DeleteGuard:
    async def guard(conn: Connection, principal: Principal, object_id: int) -> None:
        if key == "tag":
            found = await segments_using(conn, principal, tag=object_id)
        elif key == "group":
            found = await segments_using(conn, principal, group=object_id)
        else:
            field_key = await key_of(conn, principal, object_id)
            if field_key is None:
                return
            found = await segments_using(conn, principal, field_key=field_key)
        if found:
            raise conflict(
                f"This {what} is named in the conditions of segments {describe(found)};"
                " change their conditions or delete them first."
            )

    return guard


def guard_references() -> None:
    """What a segment's conditions name stays: deleting a tag, group or custom field that
    one names is a 409 naming the segments. Registered once per process by the
    composition root (`activecommerce.wiring.wire`)."""
    contact_tags.guard_delete(_refuse_if_used(contact_tags.title, "tag"))
    contact_groups.guard_delete(_refuse_if_used(contact_groups.title, "group"))
    contact_fields.guard_delete(_refuse_if_used(contact_fields.title, "field"))
