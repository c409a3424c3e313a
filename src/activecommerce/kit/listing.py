"""How a collection's list is read: its filters and its query object.

A `ListQuery` builds a list's condition (the tenant, a `base` condition, the filters) and
its order, reads one page (by number, or after a cursor: a keyset seek in constant time)
and counts the list's total. It is the one every collection uses unless its domain gives
its own (a subclass: contacts add a text index, membership counts and capped totals in
`contacts/listing.py`), so that what a collection of millions needs stays with it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import Table

from activecommerce.kit.db import Database, Row
from activecommerce.kit.fields import FilterText, parse_id
from activecommerce.kit.pagination import (
    CursorMeta,
    cursor_meta,
    decode_cursor,
    encode_cursor,
    offset,
)
from activecommerce.kit.principal import Principal
from activecommerce.kit.problems import invalid
from activecommerce.kit.repository import TENANT, tenant

# A sort by a function of one column, e.g. `lower(email)`.
_ONE_COLUMN_EXPRESSION = re.compile(r"[a-z_]+\(([a-z_]+)\)")


class Condition(NamedTuple):
    """A WHERE clause and its parameters."""

    sql: str
    params: list[Any]


@dataclass(frozen=True)
class ListFilter:
    """A list query parameter: `sql` holds one or more `?`, all bound to the value.

    kind `ref` is an id (a malformed one matches nothing); `like` a substring search (the
    value is escaped and wrapped in `%`). Subclasses add conditions from what their query
    object's `conditions` learnt for the request (`plan`)."""

    name: str
    sql: str
    kind: str = "str"  # str | ref | like
    annotation: Any = FilterText
    description: str = ""

    def add(self, where: list[str], params: list[Any], value: Any, plan: Any) -> None:
        """Append this filter's condition for `value` (not None) and its parameters."""
        sql = self.chosen_sql(plan)
        bound = self.bound(value)
        where.append(sql)
        params.extend([bound] * sql.count("?"))

    def chosen_sql(self, plan: Any) -> str:
        """The condition this request uses (its `sql`, unless a subclass knows better)."""
        return self.sql

    def bound(self, value: Any) -> Any:
        """The value as the condition's parameters bind it."""
        if self.kind == "ref":
            return parse_id(str(value)) or -1
        if self.kind == "like":
            escaped = str(value).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            return f"%{escaped}%"
        return value


class ListQuery:
    """The list queries of one collection (its table, sorts and filters): `page` reads a
    page and its meta in named steps; subclasses override `conditions` (the page's and
    the count's WHERE) and `total` (how the list is counted)."""

    def __init__(
        self, table: Table, sortable: dict[str, str], filters: Sequence[ListFilter]
    ) -> None:
        self.table_name = table.name
        self.sortable = sortable
        self.filters = filters
        # Sorts that are never NULL: a cursor seeks a column with a row value, an
        # expression of one (`lower(email)`) with a range on it (see `_after`).
        not_null = {"created_at", "updated_at"} | {c.name for c in table.columns if not c.nullable}
        self._not_null_sorts = not_null | {
            sort
            for sort in sortable.values()
            if (one := _ONE_COLUMN_EXPRESSION.fullmatch(sort)) and one[1] in not_null
        }

    # ------------------------------------------------------------ the page

    async def page(
        self,
        db: Database,
        principal: Principal,
        columns: str,
        *,
        page: int,
        page_size: int,
        sort_by: str,
        sort_order: str,
        filters: dict[str, Any],
        cursor: str | None = None,
        base: str | None = None,
        base_params: Sequence[Any] = (),
    ) -> tuple[CursorMeta, list[Row]]:
        """One page (`columns` of its rows) and its meta. Both reads run off the event
        loop on SQLite (`scan`): at a million rows a page or a count can take milliseconds.
        `base` (with `base_params`) narrows the list (a contact's tags)."""
        after: tuple[Any, int] | None = None
        if cursor is not None:
            sort_by, sort_order, after = self._position(cursor)
        rows_where, count_where = await self.conditions(db, principal, filters, base, base_params)
        skip = 0 if after is not None else offset(page, page_size)
        rows, more = await self._read(
            db, columns, rows_where, sort_by, sort_order, after, skip, page_size
        )
        counted = await self.total(db, principal, filters, base, count_where)
        total, exact = counted if counted is not None else _proven(rows, more, skip, after)
        next_cursor = None
        if more:
            last = rows[-1]
            next_cursor = encode_cursor(sort_by, sort_order, last["sort_key_"], int(last["id"]))
        shown_page = None if after is not None else page
        meta = cursor_meta(shown_page, page_size, total, exact=exact, next_cursor=next_cursor)
        return meta, rows

    def _position(self, cursor: str) -> tuple[str, str, tuple[Any, int]]:
        """The ordering a cursor continues and the (value, id) it continues after."""
        decoded = decode_cursor(cursor)
        if decoded is None or decoded[0] not in self.sortable:
            raise invalid("cursor", "is not a cursor of this list")
        sort_by, sort_order, value, last_id = decoded
        return sort_by, sort_order, (value, last_id)

    async def _read(
        self,
        db: Database,
        columns: str,
        where: Condition,
        sort_by: str,
        sort_order: str,
        after: tuple[Any, int] | None,
        skip: int,
        page_size: int,
    ) -> tuple[list[Row], bool]:
        """The page's rows (with their sort key as `sort_key_`), and whether more follow."""
        column = self.sortable[sort_by]
        sql, params = where
        if after is not None:
            seek, seek_params = self._after(column, sort_order, *after)
            sql, params = f"{sql} AND {seek}", [*params, *seek_params]
        rows = await db.scan(
            f"SELECT {columns}, {column} AS sort_key_ FROM {self.table_name} WHERE {sql}"
            f" ORDER BY {_order(column, sort_order)} LIMIT ? OFFSET ?",
            [*params, page_size + 1, skip],
        )
        return rows[:page_size], len(rows) > page_size

    # ------------------------------------------------------------ what subclasses refine

    async def conditions(
        self,
        db: Database,
        principal: Principal,
        filters: dict[str, Any],
        base: str | None,
        base_params: Sequence[Any],
    ) -> tuple[Condition, Condition]:
        """The WHERE of the page's rows and the WHERE its total counts."""
        where = self.where(principal, filters, base, base_params)
        return where, where

    async def total(
        self,
        db: Database,
        principal: Principal,
        filters: dict[str, Any],
        base: str | None,
        where: Condition,
    ) -> tuple[int, bool] | None:
        """The list's total and whether it is exact; None when it is not known (then the
        page tells what it proves)."""
        rows = await db.scan(
            f"SELECT count(*) AS n FROM {self.table_name} WHERE {where.sql}", where.params
        )
        return (int(rows[0]["n"]) if rows else 0), True

    # ------------------------------------------------------------ conditions

    def where(
        self,
        principal: Principal,
        filters: dict[str, Any],
        base: str | None = None,
        base_params: Sequence[Any] = (),
        *,
        plan: Any = None,
        scope: str = TENANT,
    ) -> Condition:
        """The condition (and its parameters) that a list with these filters applies:
        the tenant (`scope`: TENANT, or its row-by-row check), `base`, then each filter
        given, as `plan` (what `conditions` learnt for this request) makes it. Reads that
        page through the collection their own way (the contacts export) use it too."""
        where = [scope]
        params: list[Any] = [*tenant(principal)]
        if base:
            where.append(base)
            params.extend(base_params)
        for flt in self.filters:
            value = filters.get(flt.name)
            if value is not None:
                flt.add(where, params, value, plan)
        return Condition(" AND ".join(where), params)

    def _after(
        self, column: str, sort_order: str, value: Any, last_id: int
    ) -> tuple[str, list[Any]]:
        """Rows after (value, id) in the list's order, NULLs last ascending and first
        descending (as `_order` orders them). Not-null columns seek with a row value,
        which both databases turn into an index range."""
        if column in self._not_null_sorts:
            op = ">" if sort_order == "asc" else "<"
            if _ONE_COLUMN_EXPRESSION.fullmatch(column):
                # SQLite seeks an index on an expression only with a plain comparison.
                return (
                    f"{column} {op}= ? AND ({column} {op} ? OR id {op} ?)",
                    [value, value, last_id],
                )
            return f"({column}, id) {op} (?, ?)", [value, last_id]
        if sort_order == "asc":
            if value is None:
                return f"({column} IS NULL AND id > ?)", [last_id]
            return f"(({column}, id) > (?, ?) OR {column} IS NULL)", [value, last_id]
        if value is None:
            return f"(({column} IS NULL AND id < ?) OR {column} IS NOT NULL)", [last_id]
        return f"({column}, id) < (?, ?)", [value, last_id]


def _order(column: str, sort_order: str) -> str:
    """ORDER BY the sort, ties broken by id. NULLs sort as the largest value on both
    databases (PostgreSQL's default)."""
    direction = "DESC" if sort_order == "desc" else "ASC"
    nulls = "NULLS FIRST" if direction == "DESC" else "NULLS LAST"
    return f"{column} {direction} {nulls}, id {direction}"


def _proven(
    rows: list[Row], more: bool, skip: int, after: tuple[Any, int] | None
) -> tuple[int, bool]:
    """The total a page proves when the list was not counted: all before it (unknown past
    a cursor), it, and one more if any; past the end, nothing."""
    if not rows:
        return 0, False
    return skip + len(rows) + (1 if more else 0), not more and after is None
