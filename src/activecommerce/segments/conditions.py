"""Condition trees: which contacts a segment, an audience or an automation's trigger
means, checked against the account and compiled to one SQL condition on `contacts`.

A tree is `{"all": [...]}`, `{"any": [...]}`, `{"not": {...}}` or a leaf, at most
`MAX_DEPTH` levels of all/any/not and `MAX_LEAVES` leaves. Leaves:

- `{"field": F, "op": OP, "value": V}`: F is a contact column (`email`, `firstName`,
  `lastName`, `phone`, `status`, `createdAt`, `updatedAt`) or `fields.<key>`;
- `{"tag": ID, "has": bool}`, `{"group": ID, "in": bool}`;
- `{"email": "received"|"opened"|"clicked", "campaignId"?, "withinDays"?, "negate"?}`
  (a click counts as an open);
- `{"deal": {"pipelineId"?, "stageId"?, "statusId"?}, "has": bool}`.

The database evaluates the whole tree (`compile_tree` gives one condition, whose
subqueries are each scoped to the account): contacts are never loaded to be tested. Every
leaf is true or false, never NULL, so `not` is exact; a comparison on a field the contact
has not set is false (`ne` and `not_contains` too; `is_not_set` finds those contacts).

Mistakes are 422s naming where they are (`conditions.all.2.value`): a wrong shape, an
unknown field or operator, a value of the wrong type, an object the account does not have.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson

from activecommerce.fields.definitions import FieldDef, definitions
from activecommerce.kit.clock import FORMAT, stamp
from activecommerce.kit.db import Connection, Database
from activecommerce.kit.listing import Condition
from activecommerce.kit.principal import Principal
from activecommerce.kit.problems import invalid
from activecommerce.kit.repository import TENANT, TENANT_CHECKED, Scoped

MAX_DEPTH = 5
MAX_LEAVES = 50
MAX_LIST = 100  # values of one `in`
MAX_TEXT = 1000  # characters of one compared value
MAX_DAYS = 36500

STATUSES = ("active", "unconfirmed", "unsubscribed", "bounced", "complained")
EMAIL_ACTIVITY = ("received", "opened", "clicked")

TEXT_OPS = frozenset(
    {"eq", "ne", "contains", "not_contains", "starts_with", "ends_with", "in", "is_set"}
    | {"is_not_set"}
)
ORDER_OPS = frozenset({"gt", "gte", "lt", "lte"})
DAY_OPS = frozenset({"within_last_days", "more_than_days_ago"})
SET_OPS = frozenset({"is_set", "is_not_set"})
# What each kind of value may be compared with.
OPS_OF_KIND: dict[str, frozenset[str]] = {
    "text": TEXT_OPS,
    "dropdown": TEXT_OPS,
    "status": frozenset({"eq", "ne", "in"}),
    "number": frozenset({"eq", "ne", "in"}) | ORDER_OPS | SET_OPS,
    "date": frozenset({"eq", "ne", "in"}) | ORDER_OPS | SET_OPS | DAY_OPS,
    "timestamp": ORDER_OPS | DAY_OPS,
    "boolean": frozenset({"eq", "ne"}) | SET_OPS,
    "multiselect": frozenset({"contains", "not_contains", "in"}) | SET_OPS,
}
# The contact's own columns a leaf may name, and their kinds.
COLUMNS: dict[str, tuple[str, str]] = {
    "email": ("email", "text"),
    "firstName": ("first_name", "text"),
    "lastName": ("last_name", "text"),
    "phone": ("phone", "text"),
    "status": ("status", "status"),
    "createdAt": ("created_at", "timestamp"),
    "updatedAt": ("updated_at", "timestamp"),
}
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


# ---------------------------------------------------------------- the parsed tree


@dataclass(frozen=True)
class Group:
    """all / any of its children."""

    op: str  # "all" | "any"
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    child: Node


@dataclass(frozen=True)
class FieldLeaf:
    field: str
    op: str
    value: Any
    at: str  # where the leaf is in the request, for errors found later


@dataclass(frozen=True)
class TagLeaf:
    tag: int
    has: bool
    at: str


@dataclass(frozen=True)
class GroupLeaf:
    group: int
    member: bool
    at: str


@dataclass(frozen=True)
class EmailLeaf:
    activity: str
    campaign: int | None
    within_days: int | None
    negate: bool
    at: str


@dataclass(frozen=True)
class DealLeaf:
    pipeline: int | None
    stage: int | None
    status: int | None
    has: bool
    at: str


Leaf = FieldLeaf | TagLeaf | GroupLeaf | EmailLeaf | DealLeaf
Node = Group | Not | Leaf


def parse(tree: Any, at: str = "conditions") -> Node:
    """The tree's structure checked (not yet against the account): a 422 naming the
    first mistake."""
    counter = [0]
    node = _parse(tree, at, 0, counter)
    return node


def _parse(tree: Any, at: str, depth: int, leaves: list[int]) -> Node:
    if not isinstance(tree, dict) or not tree:
        raise invalid(at, "must be an object: all, any, not, or a condition")
    for op in ("all", "any"):
        if op in tree:
            _only(tree, at, {op})
            children = tree[op]
            if depth >= MAX_DEPTH:
                raise invalid(at, f"nests all/any/not deeper than {MAX_DEPTH} levels")
            if not isinstance(children, list) or not children:
                raise invalid(f"{at}.{op}", "must be a non-empty list of conditions")
            return Group(
                op,
                tuple(
                    _parse(child, f"{at}.{op}.{i}", depth + 1, leaves)
                    for i, child in enumerate(children)
                ),
            )
    if "not" in tree:
        _only(tree, at, {"not"})
        if depth >= MAX_DEPTH:
            raise invalid(at, f"nests all/any/not deeper than {MAX_DEPTH} levels")
        return Not(_parse(tree["not"], f"{at}.not", depth + 1, leaves))
    leaves[0] += 1
    if leaves[0] > MAX_LEAVES:
        raise invalid(at, f"more than {MAX_LEAVES} conditions in one tree")
    if "field" in tree:
        return _field_leaf(tree, at)
    if "tag" in tree:
        _only(tree, at, {"tag", "has"})
        return TagLeaf(_id(tree["tag"], f"{at}.tag"), _flag(tree, "has", at), at)
    if "group" in tree:
        _only(tree, at, {"group", "in"})
        return GroupLeaf(_id(tree["group"], f"{at}.group"), _flag(tree, "in", at), at)
    if "email" in tree:
        return _email_leaf(tree, at)
    if "deal" in tree:
        return _deal_leaf(tree, at)
    raise invalid(at, "must be all, any, not, or a field, tag, group, email or deal condition")


def _only(tree: dict[str, Any], at: str, allowed: set[str]) -> None:
    for key in tree:
        if key not in allowed:
            raise invalid(f"{at}.{key}", "is not allowed here")


def _id(value: Any, at: str) -> int:
    if isinstance(value, bool):
        raise invalid(at, "must be an id")
    if isinstance(value, int) and 0 < value < 2**63:
        return value
    digits = isinstance(value, str) and value.isascii() and value.isdigit()
    if digits and 0 < len(value) < 19 and int(value) > 0:
        return int(value)
    raise invalid(at, "must be an id")


def _flag(tree: dict[str, Any], key: str, at: str, default: bool | None = None) -> bool:
    value = tree.get(key, default)
    if not isinstance(value, bool):
        raise invalid(f"{at}.{key}", "must be true or false")
    return value


def _days(value: Any, at: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_DAYS:
        raise invalid(at, f"must be a whole number of days from 0 to {MAX_DAYS}")
    return value


def _field_leaf(tree: dict[str, Any], at: str) -> FieldLeaf:
    _only(tree, at, {"field", "op", "value"})
    name, op = tree["field"], tree.get("op")
    if not isinstance(name, str) or not (name in COLUMNS or name.startswith("fields.")):
        raise invalid(f"{at}.field", "must be a contact field or fields.<key>")
    if not isinstance(op, str):
        raise invalid(f"{at}.op", "is required")
    if op in SET_OPS:
        if "value" in tree:
            raise invalid(f"{at}.value", f"is not taken by {op}")
    elif "value" not in tree or tree["value"] is None:
        raise invalid(f"{at}.value", "is required")
    return FieldLeaf(name, op, tree.get("value"), at)


def _email_leaf(tree: dict[str, Any], at: str) -> EmailLeaf:
    _only(tree, at, {"email", "campaignId", "withinDays", "negate"})
    if tree["email"] not in EMAIL_ACTIVITY:
        raise invalid(f"{at}.email", "must be received, opened or clicked")
    campaign = tree.get("campaignId")
    days = tree.get("withinDays")
    return EmailLeaf(
        tree["email"],
        None if campaign is None else _id(campaign, f"{at}.campaignId"),
        None if days is None else _days(days, f"{at}.withinDays"),
        _flag(tree, "negate", at, False),
        at,
    )


def _deal_leaf(tree: dict[str, Any], at: str) -> DealLeaf:
    _only(tree, at, {"deal", "has"})
    deal = tree["deal"]
    if not isinstance(deal, dict):
        raise invalid(f"{at}.deal", "must be an object (pipelineId, stageId, statusId)")
    _only(deal, f"{at}.deal", {"pipelineId", "stageId", "statusId"})
    ids = {
        key: None if deal.get(key) is None else _id(deal[key], f"{at}.deal.{key}")
        for key in ("pipelineId", "stageId", "statusId")
    }
    return DealLeaf(ids["pipelineId"], ids["stageId"], ids["statusId"], _flag(tree, "has", at), at)


def leaves(node: Node) -> list[Leaf]:
    if isinstance(node, Group):
        return [leaf for child in node.children for leaf in leaves(child)]
    if isinstance(node, Not):
        return leaves(node.child)
    return [node]


# ---------------------------------------------------------------- checked against the account


@dataclass
class Checked:
    """A tree whose every reference the account has, with its fields' definitions (and
    the leaf `plan` chose to read first, if it was asked)."""

    node: Node
    fields: dict[str, FieldDef] = field(default_factory=dict)
    driver: Leaf | None = None


# The objects a leaf may name: its table, and the condition that it is the account's.
_REFERENCES = {
    "tag": "contact_tags",
    "group": "contact_groups",
    "campaignId": "email_campaigns",
    "pipelineId": "pipelines",
    "stageId": "deal_stages",
    "statusId": "deal_statuses",
}


async def check(db: Connection | Database, principal: Principal, tree: Any, at: str) -> Checked:
    """`tree` parsed and checked against the account: a 422 names an unknown field, a
    wrong value, or an object the account does not have (another account's too)."""
    node = parse(tree, at)
    found = leaves(node)
    fields: dict[str, FieldDef] = {}
    if any(isinstance(leaf, FieldLeaf) and leaf.field.startswith("fields.") for leaf in found):
        fields = await definitions(db, principal)
    wanted: dict[str, dict[int, str]] = {name: {} for name in _REFERENCES}
    for leaf in found:
        if isinstance(leaf, FieldLeaf):
            _value(leaf, fields)  # raises on a wrong value
        elif isinstance(leaf, TagLeaf):
            wanted["tag"].setdefault(leaf.tag, f"{leaf.at}.tag")
        elif isinstance(leaf, GroupLeaf):
            wanted["group"].setdefault(leaf.group, f"{leaf.at}.group")
        elif isinstance(leaf, EmailLeaf) and leaf.campaign is not None:
            wanted["campaignId"].setdefault(leaf.campaign, f"{leaf.at}.campaignId")
        elif isinstance(leaf, DealLeaf):
            for key, value in (
                ("pipelineId", leaf.pipeline),
                ("stageId", leaf.stage),
                ("statusId", leaf.status),
            ):
                if value is not None:
                    wanted[key].setdefault(value, f"{leaf.at}.deal.{key}")
    scoped = Scoped(db, principal)
    for name, ids in wanted.items():
        if not ids:
            continue
        marks = ", ".join("?" for _ in ids)
        rows = await scoped.fetchall(
            f"SELECT id FROM {_REFERENCES[name]} WHERE @tenant AND id IN ({marks})", list(ids)
        )
        have = {int(row["id"]) for row in rows}
        for ref, where in ids.items():
            if ref not in have:
                raise invalid(where, "names nothing in this account")
    return Checked(node, fields)


def _kind_of(leaf: FieldLeaf, fields: dict[str, FieldDef]) -> tuple[str, FieldDef | None]:
    if leaf.field in COLUMNS:
        return COLUMNS[leaf.field][1], None
    definition = fields.get(leaf.field.removeprefix("fields."))
    if definition is None:
        raise invalid(f"{leaf.at}.field", f"{leaf.field} is not a field of this account")
    return definition.type, definition


def _value(leaf: FieldLeaf, fields: dict[str, FieldDef]) -> Any:
    """The leaf's value, checked against its field's type and made ready to bind."""
    kind, definition = _kind_of(leaf, fields)
    if leaf.op not in OPS_OF_KIND[kind]:
        allowed = ", ".join(sorted(OPS_OF_KIND[kind]))
        raise invalid(f"{leaf.at}.op", f"must be one of {allowed} for this field")
    at = f"{leaf.at}.value"
    if leaf.op in SET_OPS:
        return None
    if leaf.op in DAY_OPS:
        return _days(leaf.value, at)
    options = definition.options if definition is not None else ()
    if leaf.op == "in":
        values = leaf.value
        if not isinstance(values, list) or not values or len(values) > MAX_LIST:
            raise invalid(at, f"must be a list of 1 to {MAX_LIST} values")
        return [_one(kind, v, options, f"{at}.{i}") for i, v in enumerate(values)]
    return _one(kind, leaf.value, options, at)


def _one(kind: str, value: Any, options: tuple[str, ...], at: str) -> Any:
    if kind in ("text", "dropdown", "status", "multiselect"):
        if not isinstance(value, str) or len(value) > MAX_TEXT:
            raise invalid(at, f"must be text of at most {MAX_TEXT} characters")
        if kind == "status" and value not in STATUSES:
            raise invalid(at, f"must be one of {', '.join(STATUSES)}")
        if kind == "multiselect" and value not in options:
            raise invalid(at, "must be one of the field's options")
        return value
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise invalid(at, "must be a number")
        if isinstance(value, float) and not math.isfinite(value):
            raise invalid(at, "must be a finite number")
        return value
    if kind == "boolean":
        if not isinstance(value, bool):
            raise invalid(at, "must be true or false")
        return value
    if kind == "date":
        return _date(value, at).isoformat()
    # timestamp: a date (its midnight, UTC) or an RFC 3339 date-time
    if isinstance(value, str) and _DATE.fullmatch(value):
        return _date(value, at).isoformat() + "T00:00:00.000000Z"
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise invalid(at, "must be a date (YYYY-MM-DD) or a date-time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return stamp(moment)


def _date(value: Any, at: str) -> date:
    if isinstance(value, str) and _DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise invalid(at, "must be a date, YYYY-MM-DD")


# ---------------------------------------------------------------- compiled to SQL


@dataclass
class _Sql:
    dialect: str
    principal: Principal
    fields: dict[str, FieldDef]
    today: date
    now: datetime
    driver: Leaf | None = None
    params: list[Any] = field(default_factory=list)

    def bind(self, value: Any) -> str:
        self.params.append(value)
        return "?"

    def scope(self, alias: str) -> str:
        self.params.extend((self.principal.account_id, self.principal.env))
        return f"{alias}.account_id = ? AND {alias}.env = ?"


def compile_tree(
    checked: Checked, principal: Principal, dialect: str, *, now: datetime | None = None
) -> Condition:
    """One condition on the table `contacts` (columns written `contacts.x`) that is true
    exactly for the contacts the tree matches. Dates relative to today are UTC days.

    Tag, group, email and deal leaves are probes of one contact by id (`EXISTS` /
    `NOT EXISTS`), which suits testing one contact as well as a list; but the set that
    `plan` chose to read first (`checked.driver`), written first as `contacts.id IN
    (...)` (PostgreSQL: `= ANY(ARRAY(...))`), from which the database reads the
    candidates."""
    moment = now or datetime.now(UTC)
    sql = _Sql(dialect, principal, checked.fields, moment.date(), moment, checked.driver)
    text = _node(checked.node, sql)
    return Condition(text, sql.params)


# ---------------------------------------------------------------- which rows to read first

SetLeaf = TagLeaf | GroupLeaf | EmailLeaf | DealLeaf
# A driver whose set has at most this many contacts is read first for a page too; a
# larger one only for a count (a page then walks the list's order and tests each contact,
# as the contacts list does for a large group).
DRIVER_ROWS = 50_000


@dataclass(frozen=True)
class Scopes:
    """The tenant conditions (`kit.repository.TENANT` or `TENANT_CHECKED`) that a
    segment's page and count put before `compile_tree`'s condition."""

    rows: str
    count: str


def _drivers(node: Node) -> list[SetLeaf]:
    """The leaves whose set of contacts the whole tree requires."""
    children = node.children if isinstance(node, Group) and node.op == "all" else (node,)
    return [
        child
        for child in children
        if isinstance(child, TagLeaf | GroupLeaf | DealLeaf | EmailLeaf) and _positive(child)
    ]


def _positive(leaf: SetLeaf) -> bool:
    if isinstance(leaf, TagLeaf | DealLeaf):
        return leaf.has
    if isinstance(leaf, GroupLeaf):
        return leaf.member
    return not leaf.negate


async def plan(db: Database, principal: Principal, checked: Checked) -> Scopes:
    """How the tree is best read (it sets `checked.driver`): the smallest of the sets the
    tree requires (each counted up to `DRIVER_ROWS`) may become the driver.

    SQLite plans without statistics and so always prefers walking the account's index:
    with a driver, the tenant is checked on each row (TENANT_CHECKED) so that the
    contacts are read from that set by id: always for a count, and for a page when the
    set is small; a count with no driver scans the table (TENANT_CHECKED too).
    PostgreSQL plans a prepared statement for any parameters after a few runs, and then
    walks the list's order for a page even when few contacts match (measured: 340 ms
    for 53 of 1,000,000): a small driver is read first there too (an array of ids, which
    it looks up by primary key), a large one left to its planner."""
    candidates = _drivers(checked.node)
    if not candidates:
        if db.dialect == "sqlite":
            # A count reads the whole account: a scan of the table costs half a walk of
            # the account's index with a lookup of each row (measured: bench/segments.py).
            return Scopes(TENANT, TENANT_CHECKED)
        return Scopes(TENANT, TENANT)
    sizes = []
    for leaf in candidates:
        moment = datetime.now(UTC)
        sql = _Sql(db.dialect, principal, checked.fields, moment.date(), moment)
        inner = _set_select(leaf, sql)
        found = await db.scan(
            f"SELECT count(*) AS n FROM ({inner} LIMIT ?) AS s", [*sql.params, DRIVER_ROWS + 1]
        )
        sizes.append(int(found[0]["n"]) if found else 0)
    smallest = min(range(len(candidates)), key=sizes.__getitem__)
    small = sizes[smallest] <= DRIVER_ROWS
    if db.dialect != "sqlite":
        checked.driver = candidates[smallest] if small else None
        return Scopes(TENANT, TENANT)
    checked.driver = candidates[smallest]
    return Scopes(TENANT_CHECKED if small else TENANT, TENANT_CHECKED)


def _node(node: Node, sql: _Sql) -> str:
    if isinstance(node, Group):
        # the driver's term first: it is the one read first
        children = sorted(node.children, key=lambda child: child is not sql.driver)
        joiner = " AND " if node.op == "all" else " OR "
        return "(" + joiner.join(_node(child, sql) for child in children) + ")"
    if isinstance(node, Not):
        return f"NOT {_node(node.child, sql)}"
    if isinstance(node, FieldLeaf):
        return _field_sql(node, sql)
    if node is sql.driver:
        if sql.dialect == "sqlite":
            return f"(contacts.id IN ({_set_select(node, sql)}))"
        return f"(contacts.id = ANY(ARRAY({_set_select(node, sql)})))"
    probe = _set_select(node, sql, "contacts.id")
    return f"({'' if _positive(node) else 'NOT '}EXISTS ({probe}))"


def _set_select(leaf: SetLeaf, sql: _Sql, contact: str | None = None) -> str:
    """SELECT of the contact ids in the leaf's set (before any negation), or with
    `contact`, of that one contact's rows in it."""
    if isinstance(leaf, TagLeaf):
        return _member_select("contact_tag_members", "tag_id", leaf.tag, sql, contact)
    if isinstance(leaf, GroupLeaf):
        return _member_select("contact_group_members", "group_id", leaf.group, sql, contact)
    if isinstance(leaf, EmailLeaf):
        return _email_select(leaf, sql, contact)
    return _deal_select(leaf, sql, contact)


def _member_select(table: str, column: str, target: int, sql: _Sql, contact: str | None) -> str:
    where = [sql.scope("m"), f"m.{column} = {sql.bind(target)}"]
    if contact is not None:
        where.insert(0, f"m.contact_id = {contact}")
    return f"SELECT m.contact_id FROM {table} m WHERE " + " AND ".join(where)


def _email_select(leaf: EmailLeaf, sql: _Sql, contact: str | None) -> str:
    # `NOT e.is_test` written as such: it is the condition of the unique index on
    # (campaign_id, contact_id), which both databases then use.
    where = [sql.scope("e"), "NOT e.is_test", "e.contact_id IS NOT NULL"]
    if contact is not None:
        where.insert(0, f"e.contact_id = {contact}")
    if leaf.campaign is not None:
        where.append(f"e.campaign_id = {sql.bind(leaf.campaign)}")
    else:
        where.append("e.campaign_id IS NOT NULL")
    cutoff = None
    if leaf.within_days is not None:
        cutoff = stamp(sql.now - timedelta(days=leaf.within_days))
    if leaf.activity == "received":
        where.append("e.sent_at IS NOT NULL")
        if cutoff is not None:
            where.append(f"e.sent_at >= {sql.bind(cutoff)}")
    elif leaf.activity == "clicked":
        where.append("e.clicked_at IS NOT NULL")
        if cutoff is not None:
            where.append(f"e.clicked_at >= {sql.bind(cutoff)}")
    elif cutoff is None:  # opened: a click counts as an open
        where.append("(e.opened_at IS NOT NULL OR e.clicked_at IS NOT NULL)")
    else:
        where.append(f"(e.opened_at >= {sql.bind(cutoff)} OR e.clicked_at >= {sql.bind(cutoff)})")
    return "SELECT e.contact_id FROM email_messages e WHERE " + " AND ".join(where)


def _deal_select(leaf: DealLeaf, sql: _Sql, contact: str | None) -> str:
    where = [sql.scope("d"), "d.contact_id IS NOT NULL"]
    if contact is not None:
        where.insert(0, f"d.contact_id = {contact}")
    for column, value in (
        ("pipeline_id", leaf.pipeline),
        ("stage_id", leaf.stage),
        ("status_id", leaf.status),
    ):
        if value is not None:
            where.append(f"d.{column} = {sql.bind(value)}")
    return "SELECT d.contact_id FROM deals d WHERE " + " AND ".join(where)


# The contact's own columns that are never NULL: compared as they are, so that a
# database may use an index on them (created_at).
NOT_NULL = frozenset({"email", "status", "createdAt", "updatedAt"})


def _field_sql(leaf: FieldLeaf, sql: _Sql) -> str:
    kind, definition = _kind_of(leaf, sql.fields)
    value = _value(leaf, sql.fields)
    if definition is None:
        column = f"contacts.{COLUMNS[leaf.field][0]}"
        guard = _ASCII_COLUMN.format(column)
        return _compare(column, kind, leaf.op, value, sql, leaf.field not in NOT_NULL, guard)
    if kind == "multiselect":
        return _multiselect(definition.id, leaf.op, value, sql)
    slot = _slot_value(definition.id, kind, sql.dialect)
    return _compare(slot, kind, leaf.op, value, sql, True, _ASCII_JSON.format("contacts.fields"))


def _slot_value(field_id: int, kind: str, dialect: str) -> str:
    """The SQL value of one field of the contact (NULL when unset). The field's id is
    written into the statement (an integer from the database, never the caller's text),
    so that its key in `contacts.fields` is a constant each database can plan with."""
    slot = int(field_id)
    if dialect == "sqlite":
        return f"json_extract(contacts.fields, '$.\"{slot}\"')"
    if kind == "number":
        # Only numbers are stored under a number field; the type test keeps the cast safe.
        return (
            f"(CASE WHEN jsonb_typeof(contacts.fields -> '{slot}') = 'number'"
            f" THEN (contacts.fields ->> '{slot}')::numeric END)"
        )
    return f"(contacts.fields ->> '{slot}')"


def _compare(
    expr: str, kind: str, op: str, value: Any, sql: _Sql, nullable: bool, guard: str
) -> str:
    """`expr op value`, false (never NULL) where `expr` is NULL: `IS TRUE` makes a NULL
    comparison false and reads the value once (a JSON value is extracted per use)."""
    if op == "is_set":
        return f"({expr} IS NOT NULL)"
    if op == "is_not_set":
        return f"({expr} IS NULL)"
    test = _test(expr, kind, op, value, sql, guard)
    return f"(({test}) IS TRUE)" if nullable else f"({test})"


def _test(expr: str, kind: str, op: str, value: Any, sql: _Sql, guard: str) -> str:
    """`expr op value`: NULL where `expr` is NULL."""
    if op in DAY_OPS:
        return _days_test(expr, kind, op, value, sql)
    if kind in ("text", "dropdown"):
        return _text_test(expr, op, value, sql, guard)
    if kind == "boolean":
        bound = sql.bind(value if sql.dialect == "sqlite" else ("true" if value else "false"))
        return f"{expr} {'=' if op == 'eq' else '<>'} {bound}"
    if kind == "number" and sql.dialect != "sqlite":
        value = [_numeric(v) for v in value] if op == "in" else _numeric(value)
    if op == "in":
        marks = ", ".join(sql.bind(v) for v in value)
        return f"{expr} IN ({marks})"
    symbol = {"eq": "=", "ne": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[op]
    return f"{expr} {symbol} {sql.bind(value)}"


def _numeric(value: Any) -> Decimal:
    return Decimal(str(value))


# SQLite: text that is ASCII, as many characters as bytes (JSON text: and no escape, so
# that none of its strings holds another character either). GLOB '*[^ -~]*' says the
# same but costs more than the call into Python it spares.
_ASCII_COLUMN = "length({0}) = length(CAST({0} AS BLOB))"
_ASCII_JSON = "length({0}) = length(CAST({0} AS BLOB)) AND instr({0}, '\\') = 0"


def _text_test(expr: str, op: str, value: Any, sql: _Sql, ascii_guard: str) -> str:
    """Case-insensitive text comparison (Unicode case folding, `str.lower`'s on SQLite,
    the database's own `lower` on PostgreSQL). On SQLite, where `lower` is a Python
    function, text that `ascii_guard` shows to be ASCII is compared by SQLite itself
    instead (NOCASE, and LIKE, which fold ASCII letters: the same answer for such text),
    which spares a call into Python for nearly every row."""
    if sql.dialect != "sqlite":
        return _lowered_test(f"lower({expr})", op, value, sql, "lower(CAST(? AS TEXT))")
    plain = _lowered_test(expr, op, value, sql, "?", nocase=True)
    folded = _lowered_test(f"lower({expr})", op, value, sql, "?")
    return f"(CASE WHEN {ascii_guard} THEN {plain} ELSE {folded} END)"


def _lowered_test(
    lowered: str, op: str, value: Any, sql: _Sql, mark: str, nocase: bool = False
) -> str:
    """`lowered op value` where `mark` binds a value (given lower-cased on SQLite, whose
    `lower` is Python's)."""

    def bound(text: str) -> str:
        sql.bind(text.lower() if sql.dialect == "sqlite" else text)
        return mark

    collate = " COLLATE NOCASE" if nocase else ""
    if op == "in":
        marks = ", ".join(bound(v) for v in value)
        return f"{lowered}{collate} IN ({marks})"
    if op in ("eq", "ne"):
        symbol = "=" if op == "eq" else "<>"
        return f"{lowered}{collate} {symbol} {bound(value)}"
    escaped = str(value).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = {
        "contains": f"%{escaped}%",
        "not_contains": f"%{escaped}%",
        "starts_with": f"{escaped}%",
        "ends_with": f"%{escaped}",
    }[op]
    negation = "NOT " if op == "not_contains" else ""
    return f"{lowered} {negation}LIKE {bound(pattern)} ESCAPE '\\'"


def _days_test(expr: str, kind: str, op: str, days: int, sql: _Sql) -> str:
    """Within the last `days` days (today counts as within 0), or longer ago than that."""
    if kind == "date":
        cutoff: str = (sql.today - timedelta(days=days)).isoformat()
        if op == "within_last_days":
            today = sql.today.isoformat()
            return f"{expr} >= {sql.bind(cutoff)} AND {expr} <= {sql.bind(today)}"
        return f"{expr} < {sql.bind(cutoff)}"
    cutoff = (sql.now - timedelta(days=days)).strftime(FORMAT)
    if op == "within_last_days":  # not a time still to come (a clock ahead)
        now = sql.now.strftime(FORMAT)
        return f"{expr} >= {sql.bind(cutoff)} AND {expr} <= {sql.bind(now)}"
    return f"{expr} < {sql.bind(cutoff)}"


def _multiselect(field_id: int, op: str, value: Any, sql: _Sql) -> str:
    """A list of options: contains (has this one), not_contains (is set without it), in
    (has any of these), is_set / is_not_set. Options are compared exactly (the value was
    checked to be one of the field's options)."""
    slot = int(field_id)
    if sql.dialect == "sqlite":
        path = f"'$.\"{slot}\"'"
        present = f"json_type(contacts.fields, {path}) IS NOT NULL"
    else:
        present = f"contacts.fields -> '{slot}' IS NOT NULL"
    if op == "is_set":
        return f"({present})"
    if op == "is_not_set":
        return f"(NOT ({present}))"
    # Only now are the chosen options bound: a parameter bound for SQL that is not
    # written would shift every later one.
    chosen = value if op == "in" else [value]
    if sql.dialect == "sqlite":
        marks = ", ".join(sql.bind(v) for v in chosen)
        has = (
            f"EXISTS (SELECT 1 FROM json_each(contacts.fields, {path}) j"
            f" WHERE j.value IN ({marks}))"
        )
    else:
        has = (
            "("
            + " OR ".join(
                f"contacts.fields -> '{slot}' @> CAST({sql.bind(_json([v]))} AS jsonb)"
                for v in chosen
            )
            + ")"
        )
    if op == "not_contains":
        return f"({present} AND NOT {has})"
    return f"({present} AND {has})"


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()
