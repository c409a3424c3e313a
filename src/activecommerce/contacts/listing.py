"""How the contacts list is read: its filters and its query object.

An account may hold millions of contacts, so their list does more than the generic one
(`kit.listing`): its totals come from counts that triggers maintain (`contact_counts`)
when one answers the filters; a membership filter of a small group reads the group's
few members rather than probing each contact in the list's order; the text search is
narrowed first through a text index on SQLite, and its count is capped. The totals are
exact but for a search (docs/guides/pagination.md, "Totals").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from activecommerce.contacts.schemas import ContactStatus
from activecommerce.kit.db import Database
from activecommerce.kit.fields import parse_id
from activecommerce.kit.listing import Condition, ListFilter, ListQuery
from activecommerce.kit.principal import Principal
from activecommerce.kit.repository import TENANT, TENANT_CHECKED, tenant
from activecommerce.segments.matching import NOTHING_PLANNED, Planned, segment_condition

SEARCH_COUNT_LIMIT = 1000
# A search's count is worth this long: a common substring can take a scan of a large share
# of the account (PostgreSQL prefers a sequential scan to gather 1,001 matches of a
# trigram-common term: 100+ ms at 1M). Past it, the total is what the page itself proves.
SEARCH_COUNT_SECONDS = 0.025
# A group under this many members (or under 1/200 of the list) is read whole (`rare_sql`).
RARE_MEMBERS = 5000
# A text search with at most this many candidates in the text index is read whole (SQLite).
RARE_MATCHES = 5000
COUNTS_TABLE = "contact_counts"


@dataclass(frozen=True)
class Plan:
    """What a list request learnt before its conditions are built: the database's
    dialect, the membership filters that name a small group, the text index's
    candidates when they are few (SQLite), the segment's condition compiled for this
    request (when the list is filtered by one), and whether a search may be narrowed
    through the text index at all (not when rows are read by id: the export)."""

    dialect: str
    rare: frozenset[str]
    matches: list[int] | None
    segment: Planned | None = None
    text_index: bool = True


@dataclass(frozen=True, kw_only=True)
class MembershipFilter(ListFilter):
    """Contacts in a group (or with a tag), whose size is a maintained count
    (`<counted>:<id>`): `sql` (a correlated EXISTS: walk the list's order and probe)
    suits a large group; a small one is faster as `rare_sql` (IN: read its few members,
    then sort them)."""

    counted: str
    rare_sql: str

    def chosen_sql(self, plan: Plan | None) -> str:
        return self.rare_sql if plan is not None and self.name in plan.rare else self.sql


@dataclass(frozen=True, kw_only=True)
class TextSearch(ListFilter):
    """A substring search (kind `like`). On SQLite, `sqlite_match` (rowids `MATCH ?`,
    bound to the value as an FTS5 phrase; trigrams need three characters) narrows it first
    through a text index, and `sql` then checks each candidate, so the result is exactly
    the scan's. Up to `RARE_MATCHES` candidates are read first and the page is made of
    them (sorted); more, and the page walks the list's order keeping the candidates (which
    are then dense enough to fill it quickly). A search makes the total a lower bound past
    `SEARCH_COUNT_LIMIT`, or when counting takes over `SEARCH_COUNT_SECONDS`."""

    sqlite_match: str

    def indexed(self, dialect: str, text: str) -> bool:
        """Whether the text index narrows this search."""
        return dialect == "sqlite" and len(text) >= 3

    def add(self, where: list[str], params: list[Any], value: Any, plan: Plan | None) -> None:
        if plan is not None and plan.text_index and self.indexed(plan.dialect, str(value)):
            if plan.matches is not None:
                where.append("id IN (SELECT value FROM json_each(?))")
                params.append(orjson.dumps(plan.matches).decode())
            else:
                where.append(f"id IN ({self.sqlite_match})")
                params.append(_fts_phrase(str(value)))
        super().add(where, params, value, plan)


@dataclass(frozen=True, kw_only=True)
class SegmentFilter(ListFilter):
    """Contacts a segment matches: its tree is compiled per request (`Plan.segment`, by
    `ContactListQuery.conditions`); like any id filter, a malformed id or one of no
    segment of the caller's matches nothing."""

    def add(self, where: list[str], params: list[Any], value: Any, plan: Plan | None) -> None:
        if plan is None:
            raise ValueError("a segment filter needs the request's plan (ContactListQuery)")
        segment = (plan.segment or NOTHING_PLANNED).where
        where.append(segment.sql)
        params.extend(segment.params)


def _checked(scope: str) -> bool:
    return scope == TENANT_CHECKED


def _fts_phrase(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _membership_filter(
    name: str, table: str, column: str, counted: str, what: str
) -> MembershipFilter:
    return MembershipFilter(
        name,
        f"EXISTS (SELECT 1 FROM {table} m WHERE m.contact_id = contacts.id AND m.{column} = ?)",
        kind="ref",
        description=f"Contacts {what}",
        counted=counted,
        rare_sql=f"id IN (SELECT contact_id FROM {table} WHERE {column} = ?)",
    )


FILTERS: list[ListFilter] = [
    ListFilter(
        "email",
        "lower(email) = lower(CAST(? AS TEXT))",
        description="Exact email, compared case-insensitively",
    ),
    _membership_filter("groupId", "contact_group_members", "group_id", "group", "in this group"),
    _membership_filter("tagId", "contact_tag_members", "tag_id", "tag", "with this tag"),
    ListFilter("status", "status = ?", annotation=ContactStatus),
    TextSearch(
        "q",
        "(lower(email) LIKE lower(CAST(? AS TEXT)) ESCAPE '\\'"
        " OR lower(first_name) LIKE lower(CAST(? AS TEXT)) ESCAPE '\\'"
        " OR lower(last_name) LIKE lower(CAST(? AS TEXT)) ESCAPE '\\')",
        kind="like",
        description="Search in email, first and last name (a substring, any case)",
        sqlite_match="SELECT rowid FROM contacts_fts WHERE contacts_fts MATCH ?",
    ),
    SegmentFilter(
        "segmentId",
        "",
        kind="ref",
        description="Contacts this segment matches (of every status, unless `status` is given too)",
    ),
]


def count_key(filters: dict[str, Any]) -> str | None:
    """The maintained count (`contact_counts`) that is a list's total under these
    filters (those given): none, or one of status, groupId or tagId."""
    if not filters:
        return "all"
    if len(filters) != 1:
        return None
    ((name, value),) = filters.items()
    if name == "status":
        return f"status:{value}"
    if name in ("groupId", "tagId"):
        target = parse_id(str(value))
        return None if target is None else f"{name.removesuffix('Id')}:{target}"
    return None


class ContactListQuery(ListQuery):
    """The contacts list: rare groups read whole, the text index first (SQLite), totals
    from the maintained counts, a search's count capped."""

    async def conditions(
        self,
        db: Database,
        principal: Principal,
        filters: dict[str, Any],
        base: str | None,
        base_params: Sequence[Any],
    ) -> tuple[Condition, Condition]:
        """The tenant is checked on each row rather than used as an index (SQLite) when
        the rows come from ids: the text index's few candidates for the page, all of its
        matches for the count. The count reads the matches, each looked up by id, rather
        than walking the account's rows for them: at a million contacts, a common
        substring's capped count took over the 25 ms allowed (26 ms), and 10 ms so."""
        rare = await self._rare_filters(db, principal, filters)
        search = self._text_search(db.dialect, filters)
        matches = None if search is None else await self._text_matches(db, *search)
        segment = await self._segment(db, principal, filters)
        plan = Plan(db.dialect, rare, matches, segment)
        # Rows read from a set of ids (the text index's matches, a segment's driver) are
        # checked for the tenant one by one, rather than walked through its index.
        scope = TENANT if matches is None else TENANT_CHECKED
        row_scope = scope if segment is None else max(scope, segment.scopes.rows, key=_checked)
        rows = self.where(principal, filters, base, base_params, plan=plan, scope=row_scope)
        # A search's count reads its matches by id, whether or not the page does.
        count_scope = TENANT if search is None else TENANT_CHECKED
        if segment is not None:
            count_scope = max(count_scope, segment.scopes.count, key=_checked)
        if count_scope == row_scope:
            return rows, rows
        count = self.where(principal, filters, base, base_params, plan=plan, scope=count_scope)
        return rows, count

    async def total(
        self,
        db: Database,
        principal: Principal,
        filters: dict[str, Any],
        base: str | None,
        where: Condition,
    ) -> tuple[int, bool] | None:
        """A maintained count when one answers these filters, else a count (capped for
        text searches: then a lower bound; None when it took too long)."""
        active = {k: v for k, v in filters.items() if v is not None}
        key = count_key(active) if base is None else None
        if key is not None:
            row = await db.fetchone(
                f"SELECT sum(n) AS n FROM {COUNTS_TABLE} WHERE {TENANT} AND key = ?",
                (*tenant(principal), key),
            )
            return (int(row["n"]) if row and row["n"] is not None else 0), True
        searching = any(f.kind == "like" and active.get(f.name) is not None for f in self.filters)
        if not searching:
            return await super().total(db, principal, filters, base, where)
        found = await db.scan_within(
            f"SELECT count(*) AS n FROM (SELECT 1 FROM {self.table_name} WHERE {where.sql}"
            " LIMIT ?) AS found",
            [*where.params, SEARCH_COUNT_LIMIT + 1],
            SEARCH_COUNT_SECONDS,
        )
        if found is None:
            return None
        n = int(found[0]["n"]) if found else 0
        return (SEARCH_COUNT_LIMIT, False) if n > SEARCH_COUNT_LIMIT else (n, True)

    async def where_by_id(
        self, db: Database, principal: Principal, filters: dict[str, Any]
    ) -> Condition:
        """The list's condition for reads that take rows by id (the export): each filter
        tested on the row, the segment's compiled for this request."""
        plan = Plan(
            db.dialect,
            frozenset(),
            None,
            await self._segment(db, principal, filters),
            text_index=False,
        )
        return self.where(principal, filters, plan=plan)

    async def _segment(
        self, db: Database, principal: Principal, filters: dict[str, Any]
    ) -> Planned | None:
        """The segment the list is filtered by, if any, planned and compiled."""
        value = filters.get("segmentId")
        if value is None:
            return None
        found = await segment_condition(db, principal, parse_id(str(value)))
        return found or NOTHING_PLANNED

    async def _rare_filters(
        self, db: Database, principal: Principal, filters: dict[str, Any]
    ) -> frozenset[str]:
        """The membership filters of this query that name a small group."""
        keys: dict[str, str] = {}
        for flt in self.filters:
            value = filters.get(flt.name)
            if isinstance(flt, MembershipFilter) and value is not None:
                target = parse_id(str(value))
                if target is not None:
                    keys[f"{flt.counted}:{target}"] = flt.name
        if not keys:
            return frozenset()
        marks = ", ".join("?" for _ in range(len(keys) + 1))
        rows = await db.fetchall(
            f"SELECT key, sum(n) AS n FROM {COUNTS_TABLE} WHERE {TENANT} AND key IN ({marks})"
            " GROUP BY key",
            (*tenant(principal), "all", *keys),
        )
        counts = {row["key"]: int(row["n"]) for row in rows}
        everyone = counts.get("all", 0)
        return frozenset(
            name
            for key, name in keys.items()
            if counts.get(key, 0) < max(RARE_MEMBERS, everyone // 200)
        )

    def _text_search(self, dialect: str, filters: dict[str, Any]) -> tuple[TextSearch, str] | None:
        """The search of this list that the text index answers, and its text."""
        for flt in self.filters:
            text = filters.get(flt.name)
            if isinstance(flt, TextSearch) and text and flt.indexed(dialect, str(text)):
                return flt, str(text)
        return None

    async def _text_matches(self, db: Database, search: TextSearch, text: str) -> list[int] | None:
        """The rowids the text index gives for the search, when they are few; None when
        they are many."""
        rows = await db.scan(
            f"SELECT rowid AS id FROM ({search.sqlite_match}) LIMIT ?",
            [_fts_phrase(text), RARE_MATCHES + 1],
        )
        return [int(row["id"]) for row in rows] if len(rows) <= RARE_MATCHES else None
