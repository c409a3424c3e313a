"""The one way a collection is stored, read, listed and changed.

Each domain describes its collection once (a `Resource`: its `Table`, its models, how it
sorts and filters, and a `Rules` object with the domain's checks); the API fields are
derived from the table's columns (`field_of`). This module holds the reads and writes of
one object (always scoped by account and environment) and the create / replace / patch /
delete flow, the same for every collection; lists are read by the collection's query
object (`kit.listing`). An object is shown as `serialize` makes it from its row, completed
by the rules' `present` where a field is shown otherwise than it is stored (a contact's
custom fields): every read and every event goes through `present_rows`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, Unpack

import orjson
from pydantic import BaseModel, ValidationError
from sqlalchemy import Boolean, Column, Table
from sqlalchemy.sql.schema import ScalarElementColumnDefault

from activecommerce.kit import events
from activecommerce.kit.clock import now
from activecommerce.kit.db import Connection, Database, Row, UniqueViolation
from activecommerce.kit.events import Event
from activecommerce.kit.fields import parse_id
from activecommerce.kit.listing import ListFilter, ListQuery
from activecommerce.kit.pagination import CursorEnvelope, ListArgs
from activecommerce.kit.principal import Principal
from activecommerce.kit.problems import Problem, invalid, invalid_body, not_found
from activecommerce.kit.repository import TENANT, lock_clause, tenant

# The columns of every collection's table that the generic flow fills itself.
MANAGED_COLUMNS = frozenset({"id", "account_id", "env", "created_at", "updated_at"})


@dataclass(frozen=True)
class Field:
    """One API field and the column behind it (see `field_of`).

    kind: ref (an id of another object, a string in the API) | bool | json (JSON kept as
    text) | plain. `nullable=False` makes a PATCH to null a 422; `insert_default` is
    written at creation when the rules return no value for the field.
    """

    api: str
    column: str
    kind: str = "plain"
    nullable: bool = True
    insert_default: Any = None


def camel_case(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part.capitalize() for part in rest)


def field_of(column: Column[Any]) -> Field:
    """A column's API field: named in camelCase unless `info={"api": ...}` names it; a
    `ref` if it has a foreign key, a `bool` if Boolean, `json` if `info={"json": True}`;
    its insert default is the column's Python-side `default=` (a constant)."""
    kind = "plain"
    if column.foreign_keys:
        kind = "ref"
    elif isinstance(column.type, Boolean):
        kind = "bool"
    elif column.info.get("json"):
        kind = "json"
    default = column.default
    if default is not None and not isinstance(default, ScalarElementColumnDefault):
        raise TypeError(f"{column}: only a constant default= becomes an insert default")
    return Field(
        api=column.info.get("api", camel_case(column.name)),
        column=column.name,
        kind=kind,
        nullable=bool(column.nullable),
        insert_default=default.arg if default is not None else None,
    )


NewT = TypeVar("NewT", bound=BaseModel)


class Rules(Generic[NewT]):
    """A domain's checks, for a collection whose create model is `NewT`. Override what
    applies."""

    async def check(self, principal: Principal, sent: dict[str, Any]) -> None:
        """Checks that need no database but may wait or take CPU (a DNS lookup, parsing a
        template): run before the write transaction opens, so that they never hold the
        writer (SQLite) or a pooled connection. `sent` holds the request's fields (API
        names). CPU-heavy work must leave the event loop (see email.templates)."""

    async def prepare(
        self,
        conn: Connection,
        principal: Principal,
        new: NewT,
        current: dict[str, Any] | None,
    ) -> dict[str, Any]:
        """Check the object to be written and return its values (API names, JSON values).

        `new` is the validated body (for a PATCH, the object's fields merged with the sent
        ones); `current` is the object as it is (None at creation). Overrides build on
        this and return a new dict: besides the create model's fields it may hold another
        column's value (written too: a reset counter, an encrypted secret) and the extra
        fields of the collection's `created_model` (shown in the creation response only).
        """
        return new.model_dump(mode="json")

    async def prepare_patch(
        self,
        conn: Connection,
        principal: Principal,
        new: NewT,
        current: dict[str, Any],
        sent: dict[str, Any],
    ) -> dict[str, Any]:
        """`prepare` for a PATCH, which also sees the fields sent (API names, JSON
        values): for a field whose PATCH merges into what is stored rather than replacing
        it (a contact's custom fields)."""
        return await self.prepare(conn, principal, new, current)

    async def present(
        self, db: Connection | Database, principal: Principal, objects: list[dict[str, Any]]
    ) -> None:
        """Complete objects as `Resource.serialize` made them (from their rows alone) into
        what the API shows, in place: a field shown otherwise than it is stored (a
        contact's custom fields, stored by field id and shown by key). One call per page
        or write, so that what it reads is read once, not once per object."""

    async def written(
        self,
        conn: Connection,
        principal: Principal,
        before: dict[str, Any] | None,
        after: dict[str, Any],
    ) -> None:
        """After a create (`before` None) or an update, inside its transaction, with the
        object as shown before and after: the domain's own writes that follow from the
        change (a contact's consent records)."""

    async def before_delete(self, conn: Connection, principal: Principal, object_id: int) -> None:
        """Refuse a delete (raise a Problem) when the object is still needed. Called
        inside the write transaction, with the object's row locked."""

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
    """A collection: its table (the API fields are derived from its columns, but for
    MANAGED_COLUMNS; `out_model` names those shown, `create_model` those that PUT and
    PATCH change) and everything the generic flow needs to know of it."""

    collection: str
    table: Table
    title: str
    event_name: str
    create_model: type[BaseModel]
    patch_model: type[BaseModel]
    out_model: type[BaseModel]
    sortable: dict[str, str]
    filters: Sequence[ListFilter] = ()
    unique_messages: dict[str, str] = field(default_factory=dict)
    rules: Rules[Any] = field(default_factory=Rules)
    # When creation shows more (a secret): its extra fields come from what `prepare` returned.
    created_model: type[BaseModel] | None = None
    # Lists of collections whose objects may be large (a 1 MB template) are streamed one
    # object at a time, so that a page of them never sits in memory whole.
    stream_lists: bool = False
    # How its lists are read: the generic query object, or the domain's own (contacts).
    list_query: type[ListQuery] = ListQuery

    def __post_init__(self) -> None:
        # Other collections' rules that a delete of one of ours must honour (see
        # `guard_delete` and `clear_on_delete`): declared by the domain that refers here.
        self._delete_guards: list[DeleteGuard] = []
        self._dependents: list[tuple[Resource, Field]] = []
        self.table_name = self.table.name
        self.fields = [field_of(c) for c in self.table.columns if c.name not in MANAGED_COLUMNS]
        self.by_api = {f.api: f for f in self.fields}
        self.lists = self.list_query(self.table, self.sortable, self.filters)
        shown, updatable = self.out_model.model_fields, self.create_model.model_fields
        unknown = {*shown, *updatable} - {"id", "createdAt", "updatedAt", *self.by_api}
        if unknown:
            raise ValueError(f"{self.table_name} has no column for {sorted(unknown)}")
        self.shown = [f for f in self.fields if f.api in shown]
        self.updatable = [f for f in self.fields if f.api in updatable]
        # Written by an update only when the rules return them.
        self._others = [f for f in self.fields if f.api not in updatable]
        self.shown_once: tuple[str, ...] = ()
        if self.created_model is not None:
            self.shown_once = tuple(f for f in self.created_model.model_fields if f not in shown)
        self._get_sql = f"SELECT * FROM {self.table_name} WHERE id = ? AND {TENANT}"
        cols = ["account_id", "env", *(f.column for f in self.fields), "created_at", "updated_at"]
        self._insert_sql = (
            f"INSERT INTO {self.table_name} ({', '.join(cols)})"
            f" VALUES ({', '.join('?' for _ in cols)}) RETURNING *"
        )
        self._update_sqls: dict[tuple[str, ...], str] = {}
        self._clear_sql_of: dict[str, tuple[str, str]] = {}
        self._delete_sql = f"DELETE FROM {self.table_name} WHERE id = ? AND {TENANT}"
        self.presents = type(self.rules).present is not Rules.present
        self.follows = type(self.rules).written is not Rules.written

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

    async def present_rows(
        self, db: Database | Connection, principal: Principal, rows: Sequence[Row]
    ) -> list[dict[str, Any]]:
        """Rows as the API shows them (`serialize`, then the rules' `present`)."""
        return await self.present_objects(db, principal, [self.serialize(row) for row in rows])

    async def present_row(
        self, db: Database | Connection, principal: Principal, row: Row
    ) -> dict[str, Any]:
        return (await self.present_rows(db, principal, [row]))[0]

    async def present_objects(
        self, db: Database | Connection, principal: Principal, objects: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """`serialize`d objects as shown (changed in place, and returned)."""
        if self.presents and objects:
            await self.rules.present(db, principal, objects)
        return objects

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
        return value

    # ------------------------------------------------------------ reads

    async def get_row(
        self,
        db: Database | Connection,
        principal: Principal,
        object_id: str,
        *,
        lock: bool | str = False,
    ) -> Row:
        """The caller's object; with `lock`, locked until the transaction ends (for a
        read-modify-write): FOR UPDATE, or the row-lock mode given (e.g. "NO KEY UPDATE",
        which does not block foreign-key checks of rows that refer to it)."""
        oid = parse_id(object_id)
        row = None
        if oid is not None:
            mode = lock if isinstance(lock, str) else "UPDATE"
            sql = self._get_sql + lock_clause(db, mode) if lock else self._get_sql
            row = await db.fetchone(sql, (oid, *tenant(principal)))
        if row is None:
            raise not_found(self.title)
        return row

    async def list_rows(
        self, db: Database, principal: Principal, **query: Unpack[ListArgs]
    ) -> CursorEnvelope:
        """A page (`page`, `page_size`, `sort_by`, `sort_order`, `filters`, optionally a
        `cursor`, and a `base` condition with its `base_params`) in the list envelope."""
        meta, rows = await self.lists.page(db, principal, "*", **query)
        return {"data": await self.present_rows(db, principal, rows), "meta": meta}

    async def stream_rows(
        self, db: Database, principal: Principal, **query: Unpack[ListArgs]
    ) -> AsyncIterator[bytes]:
        """The same page as `list_rows`, as JSON bytes, one object at a time: the ids
        are read first, then each object when it is sent. An object deleted in between
        is left out."""
        meta, ids = await self.lists.page(db, principal, "id", **query)

        async def body() -> AsyncIterator[bytes]:
            yield b'{"data":['
            separator = b""
            for ref in ids:
                row = await db.fetchone(self._get_sql, (ref["id"], *tenant(principal)))
                if row is not None:
                    yield separator + orjson.dumps(await self.present_row(db, principal, row))
                    separator = b","
            yield b'],"meta":' + orjson.dumps(meta) + b"}"

        return body()

    # ------------------------------------------------------------ writes

    def _check_nulls(self, sent: dict[str, Any]) -> None:
        errors = [
            {"field": name, "message": "must not be null"}
            for name, value in sent.items()
            if value is None and not self.by_api[name].nullable
        ]
        if errors:
            raise Problem(422, "The request has invalid fields.", errors=errors)

    async def create(
        self, conn: Connection, principal: Principal, body: BaseModel
    ) -> dict[str, Any]:
        values = await self.rules.prepare(conn, principal, body, None)
        stamp = now()
        params: list[Any] = [*tenant(principal)]
        for f in self.fields:
            params.append(self._to_column(f, values.get(f.api, f.insert_default)))
        params += [stamp, stamp]
        created = await self.present_row(
            conn, principal, await self._write(conn, self._insert_sql, params)
        )
        if self.follows:
            await self.rules.written(conn, principal, None, created)
        await events.record(
            conn, principal, self.rules.events(self.event_name, "created", None, created)
        )
        if self.shown_once:
            return {**created, **{name: values[name] for name in self.shown_once}}
        return created

    async def replace(
        self, conn: Connection, principal: Principal, object_id: str, body: BaseModel
    ) -> dict[str, Any]:
        current = self.serialize(await self.get_row(conn, principal, object_id, lock=True))
        return await self._update(conn, principal, current, body)

    async def patch(
        self, conn: Connection, principal: Principal, object_id: str, body: BaseModel
    ) -> dict[str, Any]:
        current = self.serialize(await self.get_row(conn, principal, object_id, lock=True))
        sent = body.model_dump(mode="json", exclude_unset=True)
        self._check_nulls(sent)
        try:
            new = self.create_model.model_validate(
                {f.api: current[f.api] for f in self.updatable} | sent
            )
        except ValidationError as exc:
            raise invalid_body(exc) from None
        return await self._update(conn, principal, current, new, sent)

    async def _update(
        self,
        conn: Connection,
        principal: Principal,
        current: dict[str, Any],
        new: BaseModel,
        sent: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """`current` as `serialize` made it (fields as stored); `sent`: a PATCH's fields."""
        if sent is None:
            values = await self.rules.prepare(conn, principal, new, current)
        else:
            values = await self.rules.prepare_patch(conn, principal, new, current, sent)
        written = [*self.updatable, *(f for f in self._others if f.api in values)]
        params = [self._to_column(f, values.get(f.api)) for f in written]
        params += [now(), int(current["id"]), *tenant(principal)]
        sql = self._update_sql(tuple(f.column for f in written))
        row = await self._write(conn, sql, params)
        before, updated = await self.present_objects(
            conn, principal, [dict(current), self.serialize(row)]
        )
        if self.follows:
            await self.rules.written(conn, principal, before, updated)
        changes = self.rules.events(self.event_name, "updated", before, updated)
        await events.record(conn, principal, changes)
        return updated

    def _update_sql(self, columns: tuple[str, ...]) -> str:
        sql = self._update_sqls.get(columns)
        if sql is None:
            sets = "".join(f"{column} = ?, " for column in columns)
            sql = (
                f"UPDATE {self.table_name} SET {sets}updated_at = ?"
                f" WHERE id = ? AND {TENANT} RETURNING *"
            )
            self._update_sqls[columns] = sql
        return sql

    async def delete(
        self, conn: Connection, principal: Principal, object_id: str, *, record: bool = True
    ) -> Row:
        """Delete the caller's object (its row as it was is returned). `record=False`: no
        `<name>.deleted` event (an erasure, whose event must not carry the object)."""
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
        gone = await self.present_row(conn, principal, row)
        await conn.execute(self._delete_sql, (oid, *tenant(principal)))
        if record:
            await events.record(
                conn, principal, self.rules.events(self.event_name, "deleted", gone, None)
            )
        return row

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
        select_sql, clear_sql = self._clear_sqls(ref.column)
        scope = tenant(principal)
        rows = await conn.fetchall(select_sql + lock_clause(conn), (target_id, *scope))
        stamp = now()
        for row in rows:
            updated = await conn.fetchone(clear_sql, (stamp, row["id"], *scope))
            assert updated is not None
            before, after = await self.present_rows(conn, principal, [row, updated])
            await events.record(
                conn, principal, self.rules.events(self.event_name, "updated", before, after)
            )

    def _clear_sqls(self, column: str) -> tuple[str, str]:
        """The statements of `clear_references` for the reference column `column`: its
        rows that name a target (to be locked), and the clearing of one of them."""
        sqls = self._clear_sql_of.get(column)
        if sqls is None:
            sqls = (
                f"SELECT * FROM {self.table_name} WHERE {column} = ? AND {TENANT} ORDER BY id",
                f"UPDATE {self.table_name} SET {column} = NULL, updated_at = ?"
                f" WHERE id = ? AND {TENANT} RETURNING *",
            )
            self._clear_sql_of[column] = sqls
        return sqls

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
