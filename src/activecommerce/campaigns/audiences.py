"""A campaign's audience: who it reaches, as ONE condition on `contacts`.

An audience is `{"all": true}` (every active contact) or the union of groups, tags and
segments, less the contacts in any of `exclude`'s groups, tags and segments; always only
the `active` contacts. `all` together with groups, tags or segments is refused (422 at
`audience.all`): everyone already includes them, and a client that sends both has likely
made a mistake. Every id must be one of the account's (422 naming `audience.groupIds.0`,
`audience.exclude.segmentIds.1`, ...).

This module is the one owner of "who is in this audience" and "how many": the sending job
walks `condition(...)` in contact id order, the API's `audienceCount` and the console's
live count call `size`.

Fixed at the start of sending (`freeze`): the highest contact id then (contacts created
later are not added, whatever they match), the moment relative dates are measured from,
and each segment's condition tree. They are stored with the campaign, so a job that runs
again after a crash uses the same bound and the same trees.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from activecommerce.campaigns import repository
from activecommerce.campaigns.schemas import AudienceIn
from activecommerce.contacts import service as contacts
from activecommerce.kit.clock import parse, stamp
from activecommerce.kit.db import Connection, Database
from activecommerce.kit.listing import Condition
from activecommerce.kit.principal import Principal
from activecommerce.kit.problems import Problem, conflict, invalid
from activecommerce.kit.resource import DeleteGuard
from activecommerce.segments import service as segments
from activecommerce.segments.conditions import check, compile_tree

log = logging.getLogger("activecommerce.campaigns")

KINDS = ("groupIds", "tagIds", "segmentIds")
TABLES = {"groupIds": "contact_groups", "tagIds": "contact_tags", "segmentIds": "segments"}
MEMBERS = {
    "groupIds": ("contact_group_members", "group_id"),
    "tagIds": ("contact_tag_members", "tag_id"),
}


@dataclass(frozen=True)
class Audience:
    """An audience as stored with the campaign (ids as integers, in the order given)."""

    all: bool = False
    include: dict[str, list[int]] = field(default_factory=dict)
    exclude: dict[str, list[int]] = field(default_factory=dict)

    def ids(self, kind: str) -> list[int]:
        """Every id of one kind it names, included or excluded."""
        return list(dict.fromkeys([*self.include.get(kind, []), *self.exclude.get(kind, [])]))

    def names(self, kind: str, object_id: int) -> bool:
        return object_id in self.include.get(kind, []) or object_id in self.exclude.get(kind, [])

    def stored(self) -> dict[str, Any]:
        out: dict[str, Any] = {"all": self.all}
        out.update({kind: self.include.get(kind, []) for kind in KINDS})
        out["exclude"] = {kind: self.exclude.get(kind, []) for kind in KINDS}
        return out


@dataclass(frozen=True)
class Frozen:
    """What the start of sending fixed: the contact id bound, the moment, the trees."""

    max_contact_id: int
    at: str
    segments: dict[int, Any]

    def stored(self) -> dict[str, Any]:
        return {
            "maxContactId": self.max_contact_id,
            "at": self.at,
            "segments": {str(k): v for k, v in self.segments.items()},
        }


def _unique(ids: list[str]) -> list[int]:
    return list(dict.fromkeys(int(i) for i in ids))


async def validated(
    conn: Connection | Database, principal: Principal, body: AudienceIn
) -> Audience:
    """The audience asked for, checked against the account: a 422 naming each mistake."""
    include = {kind: _unique(getattr(body, kind)) for kind in KINDS}
    exclude = {kind: _unique(getattr(body.exclude, kind)) if body.exclude else [] for kind in KINDS}
    if body.all and any(include.values()):
        raise invalid(
            "audience.all",
            "everyone already includes every group, tag and segment: send all alone,"
            " or the groups, tags and segments without all",
        )
    if not body.all and not any(include.values()):
        raise invalid("audience", "must be all: true or name at least one group, tag or segment")
    errors: list[dict[str, str]] = []
    for kind in KINDS:
        wanted = [*include[kind], *exclude[kind]]
        have = await repository.existing_ids(conn, principal, TABLES[kind], wanted)
        for where, given in (("audience", body), ("audience.exclude", body.exclude)):
            if given is None:
                continue
            for index, value in enumerate(getattr(given, kind)):
                if int(value) not in have:
                    errors.append(
                        {
                            "field": f"{where}.{kind}.{index}",
                            "message": "names nothing in this account",
                        }
                    )
    if errors:
        raise Problem(422, "The request has invalid fields.", errors=errors)
    return Audience(body.all, include, exclude)


def loads(text: str | None) -> tuple[Audience, Frozen | None]:
    """A campaign's stored audience (also the groups-and-tags form stored before
    segments), and what its start fixed, if it started."""
    data = orjson.loads(text or "{}")
    excluded = data.get("exclude") or {}
    audience = Audience(
        bool(data.get("all")),
        {kind: [int(i) for i in data.get(kind, [])] for kind in KINDS},
        {kind: [int(i) for i in excluded.get(kind, [])] for kind in KINDS},
    )
    frozen = data.get("frozen")
    if frozen is None:
        return audience, None
    segments = {int(k): v for k, v in frozen["segments"].items()}
    return audience, Frozen(int(frozen["maxContactId"]), str(frozen["at"]), segments)


def dumps(audience: Audience, frozen: Frozen | None = None) -> str:
    stored = audience.stored()
    if frozen is not None:
        stored["frozen"] = frozen.stored()
    return orjson.dumps(stored).decode()


class AudienceGone(Exception):
    """A segment of the audience was deleted, or its conditions no longer check (a field
    or object it names is gone): the audience can't be resolved as it was meant."""


async def segment_trees(
    db: Database | Connection, principal: Principal, audience: Audience
) -> dict[int, Any]:
    """The condition trees of the audience's segments as stored now; AudienceGone when
    one of them is missing."""
    wanted = audience.ids("segmentIds")
    stored = await segments.conditions_by_id(db, principal, wanted)
    missing = [s for s in wanted if s not in stored]
    if missing:
        raise AudienceGone(f"segment {missing[0]} was deleted")
    return {s: orjson.loads(stored[s]) for s in wanted}


async def freeze(db: Database, principal: Principal, audience: Audience) -> Frozen:
    """What the start of sending fixes (see the module's docstring)."""
    trees = await segment_trees(db, principal, audience)
    bound = await repository.max_contact_id(db, principal)
    return Frozen(bound, stamp(datetime.now(UTC)), trees)


async def condition(
    db: Database | Connection,
    principal: Principal,
    audience: Audience,
    trees: dict[int, Any],
    at: datetime | None = None,
) -> Condition:
    """One condition on `contacts` true exactly for the audience's active contacts, with
    the segments' trees `trees` (relative dates measured from `at`, now by default).
    AudienceGone when a tree no longer checks against the account."""
    sql: list[str] = ["contacts.status = 'active'"]
    params: list[Any] = []

    async def union(ids: dict[str, list[int]]) -> tuple[str, list[Any]]:
        parts: list[str] = []
        values: list[Any] = []
        for kind, (table, column) in MEMBERS.items():
            if ids.get(kind):
                marks = ", ".join("?" for _ in ids[kind])
                parts.append(
                    f"contacts.id IN (SELECT m.contact_id FROM {table} m WHERE m.account_id = ?"
                    f" AND m.env = ? AND m.{column} IN ({marks}))"
                )
                values += [principal.account_id, principal.env, *ids[kind]]
        for segment in ids.get("segmentIds", []):
            try:
                checked = await check(db, principal, trees[segment], "conditions")
            except Problem as problem:
                raise AudienceGone(
                    f"segment {segment} no longer checks: {problem.errors}"
                ) from None
            compiled = compile_tree(checked, principal, db.dialect, now=at)
            parts.append(f"({compiled.sql})")
            values += compiled.params
        return " OR ".join(parts), values

    if not audience.all:
        text, values = await union(audience.include)
        sql.append(f"({text})")
        params += values
    text, values = await union(audience.exclude)
    if text:
        sql.append(f"NOT ({text})")
        params += values
    return Condition(" AND ".join(sql), params)


# An audience's size is worth this long to count exactly while it is being picked (the
# console's live count); past it, what the maintained counts prove ("at least").
LIVE_COUNT_SECONDS = 0.1


async def size(
    db: Database, principal: Principal, audience: Audience, *, live: bool = False
) -> tuple[int, bool]:
    """How many active contacts the audience reaches now, and whether that is exact. The
    API's count is always exact (counted off the event loop); a `live` count (the console,
    as the audience is picked) answers from the maintained counts when they prove it, and
    else gives up counting after `LIVE_COUNT_SECONDS` for the lower bound they prove."""
    simple = not audience.include.get("segmentIds") and not any(audience.exclude.values())
    if live and simple and not audience.all:
        groups, tags = audience.include.get("groupIds", []), audience.include.get("tagIds", [])
        return await contacts.active_in_any(db, principal, groups, tags, LIVE_COUNT_SECONDS)
    if live and simple and audience.all:
        return await contacts.count_active(db, principal), True
    trees = await segment_trees(db, principal, audience)
    where = await condition(db, principal, audience, trees)
    found = await contacts.count_matching(
        db, principal, where, seconds=LIVE_COUNT_SECONDS if live else None
    )
    return (0, False) if found is None else (found, True)


async def walk_condition(
    db: Database, principal: Principal, audience: Audience, frozen: Frozen
) -> Condition:
    """The condition the sending job walks: the audience with the trees and the moment
    its start fixed."""
    return await condition(db, principal, audience, frozen.segments, parse(frozen.at))


async def page(
    db: Database, principal: Principal, where: Condition, frozen: Frozen, after: int, limit: int
) -> list[int]:
    """The next contacts of the audience (ids above `after`, up to the bound fixed at the
    start), in id order."""
    return await contacts.ids_matching(db, principal, where, after, frozen.max_contact_id, limit)


# ---------------------------------------------------------------- deletes of what audiences name


def refuse_if_in_audience(kind: str, what: str) -> DeleteGuard:
    """A delete guard: a group, tag or segment that the audience of a scheduled campaign
    (or a sending one whose start has not fixed its audience yet) names stays: 409 naming
    the campaigns."""

    async def guard(conn: Connection, principal: Principal, object_id: int) -> None:
        named = []
        for row in await repository.naming_in_audience(conn, principal):
            audience, frozen = loads(row["audience"])
            if frozen is None and audience.names(kind, object_id):
                named.append(f"{row['id']} ({row['name']!r})")
        if named:
            raise conflict(
                f"This {what} is in the audience of email campaigns {', '.join(named)},"
                " which are scheduled to send; cancel them or change their audience first."
            )

    return guard
