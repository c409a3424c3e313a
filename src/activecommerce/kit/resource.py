"""The one way a collection is stored, read, listed and changed.

Each domain describes its collection once (a `Resource`: its table, its fields, how they
sort and filter, and a `Rules` object with the domain's checks); this module holds the
queries (always scoped by account and environment) and the create / replace / patch /
delete flow that SPEC §2 defines for every collection alike.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import BaseModel

from activecommerce.kit import events
from activecommerce.kit.clock import now
from activecommerce.kit.db import Connection, Database, Row, UniqueViolation
from activecommerce.kit.events import Event
from activecommerce.kit.fields import FilterText, parse_id
from activecommerce.kit.pagination import offset, page_meta
from activecommerce.kit.principal import Principal
from activecommerce.kit.problems import Problem, invalid, not_found
from activecommerce.kit.repository import TENANT, lock_clause, tenant

NO_DEFAULT: Any = object()


@dataclass(frozen=True)
class Field:
    """One API field and the column behind it.

    kind: str | int | bool | ref (an id of another object) | json | date.
    `default` is what PUT restores when the field is left out (NO_DEFAULT: cleared to
    null, or for a required field a 422); `nullable=False` makes a PATCH to null a 422.
    """

    api: str
    column: str
    kind: str = "str"
    nullable: bool = True
    fixed: bool = False
    readonly: bool = False
    insert_default: Any = None
    # Written once at creation from what the rules put in `values`; never shown, never
    # updated through the generic flow (a webhook's encrypted secret).
    hidden: bool = False


@dataclass(frozen=True)
class ListFilter:
    """A list query parameter: `sql` holds one or more `?`, all bound to the value."""

    name: str
    sql: str
    kind: str = "str"  # str | ref | like
    annotation: Any = FilterText
    description: str = ""


class Rules:
    """A domain's checks. Override what applies."""

    async def check(self, principal: Principal, sent: dict[str, Any]) -> None:
        """Checks that need no database but may wait or take CPU (a DNS lookup, parsing a
        template): run before the write transaction opens, so that they never hold the
        writer (SQLite) or a pooled connection. `sent` holds the request's fields (API
        names). CPU-heavy work must leave the event loop (see email.templates)."""

    async def prepare(
        self,
        conn: Connection,
        principal: Principal,
        values: dict[str, Any],
        current: dict[str, Any] | None,
    ) -> None:
        """Check and complete `values` (API names) before they are written."""

    async def before_delete(self, conn: Connection, principal: Principal, object_id: int) -> None:
        """Refuse a delete (raise a Problem) when the object is still needed. Called
        inside the write transaction, with the object's row locked."""

    def present_created(self, values: dict[str, Any], created: dict[str, Any]) -> dict[str, Any]:
        """The creation response; the object itself unless the domain shows more once."""
        return created

    def events(
        self,
        name: str,
        action: str,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
    ) -> list[Event]:
        """The events a change records: `<name>.<action>` with the object as the API
        returns it (for a deletion, as it was). Domains add their own (stage_changed...)."""
        data = after if after is not None else before
        assert data is not None
        return [(f"{name}.{action}", data)]


DeleteGuard = Callable[[Connection, Principal, int], Awaitable[None]]


def unchanged(current: dict[str, Any] | None, values: dict[str, Any], name: str) -> bool:
    """Whether an update leaves the field `name` as it was."""
    return current is not None and current.get(name) == values.get(name)


@dataclass
class Resource:
    collection: str
    table: str
    title: str
    event_name: str
    fields: Sequence[Field]
    create_model: type[BaseModel]
    patch_model: type[BaseModel]
    out_model: type[BaseModel]
    sortable: dict[str, str]
    filters: Sequence[ListFilter] = ()
    unique_messages: dict[str, str] = field(default_factory=dict)
    rules: Rules = field(default_factory=Rules)
    created_model: type[BaseModel] | None = None  # when creation shows more (a secret)
    # Lists of collections whose objects may be large (a 1 MB template) are streamed one
    # object at a time, so that a page of them never sits in memory whole.
    stream_lists: bool = False

    def __post_init__(self) -> None:
        # Other collections' rules that a delete of one of ours must honour (see
        # `guard_delete` and `clear_on_delete`): declared by the domain that refers here.
        self._delete_guards: list[DeleteGuard] = []
        self._dependents: list[tuple[Resource, Field]] = []
        self.writable = [f for f in self.fields if not f.readonly and not f.hidden]
        self.shown = [f for f in self.fields if not f.hidden]
        self.by_api = {f.api: f for f in self.fields}
        self._get_sql = f"SELECT * FROM {self.table} WHERE id = ? AND {TENANT}"
        cols = ["account_id", "env", *(f.column for f in self.fields), "created_at", "updated_at"]
        self._insert_sql = (
            f"INSERT INTO {self.table} ({', '.join(cols)})"
            f" VALUES ({', '.join('?' for _ in cols)}) RETURNING *"
        )
        sets = ", ".join(f"{f.column} = ?" for f in self.writable)
        self._update_sql = (
            f"UPDATE {self.table} SET {sets}, updated_at = ? WHERE id = ? AND {TENANT} RETURNING *"
        )
        self._delete_sql = f"DELETE FROM {self.table} WHERE id = ? AND {TENANT}"

    # ------------------------------------------------------------ representation

    def serialize(self, row: Row) -> dict[str, Any]:
        out: dict[str, Any] = {"id": str(row["id"])}
        for f in self.shown:
            value = row[f.column]
            if value is not None:
                if f.kind == "ref":
                    value = str(value)
                elif f.kind == "json":
                    value = orjson.loads(value)
                elif f.kind == "bool":
                    value = bool(value)
            out[f.api] = value
        out["createdAt"] = row["created_at"]
        out["updatedAt"] = row["updated_at"]
        return out

    def location(self, object_id: Any) -> str:
        return f"/v3/{self.collection}/{object_id}"

    @staticmethod
    def _to_column(f: Field, value: Any) -> Any:
        if value is None:
            return None
        if f.kind == "ref":
            return int(value)
        if f.kind == "json":
            return orjson.dumps(value).decode()
        if f.kind == "bool":
            return bool(value)
        if f.kind == "date":
            return str(value)
        return value

    # ------------------------------------------------------------ reads

    async def get_row(
        self,
        db: Database | Connection,
        principal: Principal,
        object_id: str,
        *,
        lock: bool = False,
    ) -> Row:
        """The caller's object; with `lock`, locked until the transaction ends (for a
        read-modify-write)."""
        oid = parse_id(object_id)
        row = None
        if oid is not None:
            sql = self._get_sql + lock_clause(db) if lock else self._get_sql
            row = await db.fetchone(sql, (oid, *tenant(principal)))
        if row is None:
            raise not_found(self.title)
        return row

    def where(self, principal: Principal, filters: dict[str, Any]) -> tuple[str, list[Any]]:
        """The condition (and its parameters) that a list with these filters applies, for
        reads that page through the collection their own way (the contacts export)."""
        clause, params, _order = self._list_query(principal, "createdAt", "asc", filters)
        return clause, params

    async def list_rows(self, db: Database, principal: Principal, **query: Any) -> dict[str, Any]:
        """A page (`page`, `page_size`, `sort_by`, `sort_order`, `filters`, and optionally
        a `base` condition with its `base_params`) in the list envelope."""
        meta, rows = await self._page(db, principal, "*", **query)
        return {"data": [self.serialize(r) for r in rows], "meta": meta}

    async def stream_rows(
        self, db: Database, principal: Principal, **query: Any
    ) -> AsyncIterator[bytes]:
        """The same page as `list_rows`, as JSON bytes, one object at a time: the ids
        are read first, then each object when it is sent. An object deleted in between
        is left out."""
        meta, ids = await self._page(db, principal, "id", **query)

        async def body() -> AsyncIterator[bytes]:
            yield b'{"data":['
            separator = b""
            for ref in ids:
                row = await db.fetchone(self._get_sql, (ref["id"], *tenant(principal)))
                if row is not None:
                    yield separator + orjson.dumps(self.serialize(row))
                    separator = b","
            yield b'],"meta":' + orjson.dumps(meta) + b"}"

        return body()

    async def _page(
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
        base: str | None = None,
        base_params: Sequence[Any] = (),
    ) -> tuple[dict[str, int], list[Row]]:
        clause, params, order = self._list_query(
            principal, sort_by, sort_order, filters, base, base_params
        )
        total = await db.fetchone(f"SELECT count(*) AS n FROM {self.table} WHERE {clause}", params)
        rows = await db.fetchall(
            f"SELECT {columns} FROM {self.table} WHERE {clause} ORDER BY {order} LIMIT ? OFFSET ?",
            [*params, page_size, offset(page, page_size)],
        )
        return page_meta(page, page_size, int(total["n"]) if total else 0), rows

    def _list_query(
        self,
        principal: Principal,
        sort_by: str,
        sort_order: str,
        filters: dict[str, Any],
        base: str | None = None,
        base_params: Sequence[Any] = (),
    ) -> tuple[str, list[Any], str]:
        where = [TENANT]
        params: list[Any] = [*tenant(principal)]
        if base:
            where.append(base)
            params.extend(base_params)
        for flt in self.filters:
            value = filters.get(flt.name)
            if value is None:
                continue
            if flt.kind == "ref":
                value = parse_id(str(value)) or -1  # a malformed id matches nothing
            elif flt.kind == "like":
                escaped = str(value).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                value = f"%{escaped}%"
            where.append(flt.sql)
            params.extend([value] * flt.sql.count("?"))
        column = self.sortable[sort_by]
        direction = "DESC" if sort_order == "desc" else "ASC"
        # NULLs sort as the largest value on both databases (PostgreSQL's default).
        nulls = "NULLS FIRST" if direction == "DESC" else "NULLS LAST"
        return " AND ".join(where), params, f"{column} {direction} {nulls}, id {direction}"

    # ------------------------------------------------------------ writes

    def _check_nulls(self, sent: dict[str, Any]) -> None:
        errors = [
            {"field": name, "message": "must not be null"}
            for name, value in sent.items()
            if value is None and not self.by_api[name].nullable
        ]
        if errors:
            raise Problem(422, "The request has invalid fields.", errors=errors)

    def _check_fixed(self, values: dict[str, Any], current: dict[str, Any]) -> None:
        for f in self.writable:
            if f.fixed and values.get(f.api) != current.get(f.api):
                raise invalid(f.api, "is fixed at creation and cannot be changed")

    async def create(
        self, conn: Connection, principal: Principal, body: BaseModel
    ) -> dict[str, Any]:
        values = body.model_dump(mode="json")
        await self.rules.prepare(conn, principal, values, None)
        stamp = now()
        params: list[Any] = [*tenant(principal)]
        for f in self.fields:
            value = f.insert_default if f.readonly else values.get(f.api)
            params.append(self._to_column(f, value))
        params += [stamp, stamp]
        created = self.serialize(await self._write(conn, self._insert_sql, params))
        await events.record(
            conn, principal, self.rules.events(self.event_name, "created", None, created)
        )
        return self.rules.present_created(values, created)

    async def replace(
        self, conn: Connection, principal: Principal, object_id: str, body: BaseModel
    ) -> dict[str, Any]:
        current = self.serialize(await self.get_row(conn, principal, object_id, lock=True))
        values = body.model_dump(mode="json")
        return await self._update(conn, principal, current, values)

    async def patch(
        self, conn: Connection, principal: Principal, object_id: str, body: BaseModel
    ) -> dict[str, Any]:
        current = self.serialize(await self.get_row(conn, principal, object_id, lock=True))
        sent = body.model_dump(mode="json", exclude_unset=True)
        self._check_nulls(sent)
        values = {f.api: current[f.api] for f in self.writable} | sent
        return await self._update(conn, principal, current, values)

    async def _update(
        self,
        conn: Connection,
        principal: Principal,
        current: dict[str, Any],
        values: dict[str, Any],
    ) -> dict[str, Any]:
        self._check_fixed(values, current)
        await self.rules.prepare(conn, principal, values, current)
        params = [self._to_column(f, values.get(f.api)) for f in self.writable]
        params += [now(), int(current["id"]), *tenant(principal)]
        updated = self.serialize(await self._write(conn, self._update_sql, params))
        changes = self.rules.events(self.event_name, "updated", current, updated)
        await events.record(conn, principal, changes)
        return updated

    async def delete(self, conn: Connection, principal: Principal, object_id: str) -> None:
        # Locked first, so that a concurrent write that refers to this object (a deal
        # naming its stage, an automation naming its tag) either commits before our
        # checks read, or waits and then finds it gone.
        row = await self.get_row(conn, principal, object_id, lock=True)
        oid = int(row["id"])
        await self.rules.before_delete(conn, principal, oid)
        for guard in self._delete_guards:
            await guard(conn, principal, oid)
        for dependent, ref in self._dependents:
            await dependent.clear_references(conn, principal, ref, oid)
        await conn.execute(self._delete_sql, (oid, *tenant(principal)))
        gone = self.serialize(row)
        await events.record(
            conn, principal, self.rules.events(self.event_name, "deleted", gone, None)
        )

    def guard_delete(self, guard: DeleteGuard) -> None:
        """Another domain refuses deletes of our objects that it still needs (raises a
        Problem); called inside the delete's transaction, the object locked."""
        self._delete_guards.append(guard)

    def clear_on_delete(self, dependent: Resource, api_field: str) -> None:
        """`dependent.<api_field>` refers to our objects and is cleared when one is
        deleted, through `clear_references`: each changed object records its update
        event, which a database's ON DELETE SET NULL would skip."""
        self._dependents.append((dependent, dependent.by_api[api_field]))

    async def clear_references(
        self, conn: Connection, principal: Principal, ref: Field, target_id: int
    ) -> None:
        rows = await conn.fetchall(
            f"SELECT * FROM {self.table} WHERE {ref.column} = ? AND {TENANT}"
            f" ORDER BY id{lock_clause(conn)}",
            (target_id, *tenant(principal)),
        )
        stamp = now()
        for row in rows:
            updated = await conn.fetchone(
                f"UPDATE {self.table} SET {ref.column} = NULL, updated_at = ?"
                " WHERE id = ? RETURNING *",
                (stamp, row["id"]),
            )
            assert updated is not None
            before, after = self.serialize(row), self.serialize(updated)
            await events.record(
                conn, principal, self.rules.events(self.event_name, "updated", before, after)
            )

    async def _write(self, conn: Connection, sql: str, params: Sequence[Any]) -> Row:
        try:
            row = await conn.fetchone(sql, params)
        except UniqueViolation as exc:
            raise Problem(409, self._unique_message(exc.constraint)) from None
        assert row is not None
        return row

    def _unique_message(self, constraint: str) -> str:
        for fragment, message in self.unique_messages.items():
            if fragment in constraint:
                return message
        return f"This {self.title} conflicts with an existing one."


async def require_ref(
    conn: Connection,
    principal: Principal,
    resource: Resource,
    field_name: str,
    value: Any,
    *,
    unchanged: bool = False,
) -> Row | None:
    """The row that a reference field names, or a 422 when it names nothing the caller has.
    A new reference is share-locked until the transaction ends, so that its object cannot
    be deleted between this check and the write. An `unchanged` one is not locked (the
    database's own foreign-key check skips unchanged keys too): a delete of its object
    locks it first and then clears it, so locking it here would only deadlock with that."""
    if value is None:
        return None
    oid = parse_id(str(value))
    row = None
    if oid is not None:
        lock = "" if unchanged else lock_clause(conn, "KEY SHARE")
        row = await conn.fetchone(resource._get_sql + lock, (oid, *tenant(principal)))
    if row is None:
        raise invalid(field_name, f"no such {resource.title}")
    return row
