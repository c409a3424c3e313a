"""The condition compiler against an independent evaluation, on random data.

A fresh account gets ~200 random contacts (statuses, names some missing or not ASCII,
phones, creation and update times), six custom fields (one of each type, each set on
about 60% of them), tags, groups, two campaigns' emails (sent, opened, clicked at random
times of the last 60 days; test copies, which never count), and deals in two pipelines.
Then ~300 random trees (all/any/not up to 3 levels, every kind of leaf, every operator of
each type) are compiled and run by the database, and each answer is compared with this
module's own evaluation of the rules, written from the product's rules and not from the
compiler:

- text is compared case-insensitively (str.lower), `%`, `_` and `\\` are plain characters;
- a comparison on a value the contact does not have is false (`ne`, `not_contains` too);
- numbers compare as numbers, dates as dates, timestamps as instants;
- `within_last_days` N: between now - N days and now (a date: between today - N and
  today, UTC days, both ends included); `more_than_days_ago` N: before now - N days
  (a date: before today - N);
- a click counts as an open; a test copy is not an email the contact received.

Another account (and the account's other environment) holds look-alike rows, some of
which name this account's contacts, campaigns and pipelines: none may count.

The seed is fixed (set SEGMENTS_SEED to try another); every failure names it."""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import orjson
from conftest import Account
from fastapi import FastAPI

from activecommerce.kit.db import Database
from activecommerce.kit.principal import Principal
from activecommerce.segments.conditions import check, compile_tree, plan

SEED = int(os.environ.get("SEGMENTS_SEED", "20261207"))
CONTACTS = 200
TREES = 300
FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
STAMP0 = "2026-01-01T00:00:00.000000Z"
PLUS2 = timezone(timedelta(hours=2))

STATUSES = ["active", "unconfirmed", "unsubscribed", "bounced", "complained"]
FIRST = ["Émile", "ÖZ", "Anna", "anna-lena", "Zoë", "O'Brien", "Łukasz", "50%", "a_b", "x\\y"]
LAST = ["Müller", "MÜLLER", "Smith", "smith_jr", "Ñúñez", "100% Pure", "back\\slash", "Ab"]
TEXTS = [
    "Berlin",
    "berlin west",
    "BERLIN",
    "Émile's",
    "öz",
    "ÖZ",
    "50% off",
    "100%",
    "a_b",
    "axb",
    "back\\slash",
    "x\\y",
    "Straße",
    "São Paulo",
    "paris",
]
# What text conditions look for: parts of the texts above, in other cases, and LIKE's
# metacharacters, which must match only themselves.
PROBES = ["%", "_", "\\", "0%", "%%", "a_b", "_b", "\\s", "x\\", "erl", "Ö", "é", "zz", "PARIS"]
PROBES += ["ÉMILE", "émile", "öz", "ZOË", "łuk", "MÜL", "são", "STRASSE", "straße", "ÜNÏ"]
DROPDOWN = ["Gold", "silver", "Bronze-Ö"]
MULTI = ["red", "green", "blue", "Ünï"]


@dataclass
class Contact:
    id: int
    email: str
    first: str | None
    last: str | None
    phone: str | None
    status: str
    created: datetime
    updated: datetime
    values: dict[str, Any]  # by field key
    tags: set[int] = field(default_factory=set)
    groups: set[int] = field(default_factory=set)


@dataclass
class Message:
    contact: int
    campaign: int
    is_test: bool
    sent: datetime | None
    opened: datetime | None
    clicked: datetime | None


@dataclass
class Deal:
    contact: int | None
    pipeline: int
    stage: int
    status: int | None


@dataclass
class World:
    """What the account holds, as the evaluator reads it."""

    now: datetime
    contacts: list[Contact]
    kinds: dict[str, str]  # field key -> type
    slots: dict[str, int]  # field key -> id
    tags: list[int]
    groups: list[int]
    campaigns: list[int]
    messages: list[Message]
    pipelines: dict[int, tuple[list[int], list[int]]]  # id -> (stages, statuses)
    deals: list[Deal]


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(FORMAT)


# ---------------------------------------------------------------- the data


async def _insert_id(db: Database, sql: str, params: list[Any]) -> int:
    """Runs an INSERT ... RETURNING id."""
    async with db.transaction() as conn:
        row = await conn.fetchone(sql + " RETURNING id", params)
    assert row is not None
    return int(row["id"])


async def _named(db: Database, table: str, account: int, env: str, extra: dict[str, Any]) -> int:
    columns = ["account_id", "env", *extra, "created_at", "updated_at"]
    marks = ", ".join("?" for _ in columns)
    return await _insert_id(
        db,
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
        [account, env, *extra.values(), STAMP0, STAMP0],
    )


def _field_value(rnd: random.Random, kind: str, today: date) -> Any:
    if kind == "text":
        return rnd.choice(TEXTS)
    if kind == "number":
        return rnd.choice(
            [rnd.randint(-50, 50), round(rnd.uniform(-100, 100), 2), 0, -0.5, 2.5, 10]
        )
    if kind == "date":
        return (
            today + timedelta(days=rnd.choice([rnd.randint(-120, 20), 0, -1, -7, -30]))
        ).isoformat()
    if kind == "boolean":
        return rnd.random() < 0.5
    if kind == "dropdown":
        return rnd.choice(DROPDOWN)
    return rnd.sample(MULTI, rnd.randint(1, len(MULTI)))


async def _populate(
    db: Database, rnd: random.Random, account: int, env: str, now: datetime
) -> World:
    """Random contacts and everything a condition reads, in one account+environment."""
    today = now.date()
    kinds = {
        "city": "text",
        "score": "number",
        "born": "date",
        "vip": "boolean",
        "tier": "dropdown",
        "likes": "multiselect",
    }
    slots = {}
    for key, kind in kinds.items():
        options = {"dropdown": DROPDOWN, "multiselect": MULTI}.get(kind)
        slots[key] = await _named(
            db,
            "contact_fields",
            account,
            env,
            {
                "name": key.title(),
                "key": key,
                "type": kind,
                "options": orjson.dumps(options).decode() if options else None,
                "required": False,
            },
        )
    contacts: list[Contact] = []
    rows = []
    for i in range(CONTACTS):
        created = now - timedelta(seconds=rnd.uniform(0, 120 * 86400))
        updated = min(now, created + timedelta(seconds=rnd.uniform(0, 30 * 86400)))
        if rnd.random() < 0.05:  # a clock ahead: a time after now
            updated = now + timedelta(seconds=rnd.uniform(1, 3 * 86400))
        values = {
            key: _field_value(rnd, kind, today) for key, kind in kinds.items() if rnd.random() < 0.6
        }
        contact = Contact(
            0,
            f"{rnd.choice(['Ann', 'bob', 'CÉLINE', 'x_y', 'p%q'])}{i}@Example{i % 7}.io",
            rnd.choice(FIRST) if rnd.random() < 0.8 else None,
            rnd.choice(LAST) if rnd.random() < 0.7 else None,
            f"+49 30 {rnd.randint(1000, 9999)}" if rnd.random() < 0.5 else None,
            rnd.choice(STATUSES),
            created,
            updated,
            values,
        )
        contacts.append(contact)
        stored = {str(slots[k]): v for k, v in values.items()}
        # JSON as any writer may write it: some with non-ASCII characters escaped
        escape = rnd.random() < 0.3
        rows.append(
            [
                account,
                env,
                contact.email,
                contact.first,
                contact.last,
                contact.phone,
                contact.status,
                (json.dumps(stored) if escape else orjson.dumps(stored).decode())
                if stored
                else None,
                _stamp(created),
                _stamp(updated),
            ]
        )
    async with db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO contacts (account_id, env, email, first_name, last_name, phone, status,"
            " fields, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    found = await db.fetchall(
        "SELECT id, email FROM contacts WHERE account_id = ? AND env = ?", [account, env]
    )
    ids = {row["email"]: int(row["id"]) for row in found}
    for contact in contacts:
        contact.id = ids[contact.email]

    tags = [await _named(db, "contact_tags", account, env, {"name": f"t{i}"}) for i in range(3)]
    groups = [await _named(db, "contact_groups", account, env, {"name": f"g{i}"}) for i in range(3)]
    tag_rows, group_rows = [], []
    for contact in contacts:
        for tag in tags:
            if rnd.random() < 0.3:
                contact.tags.add(tag)
                tag_rows.append([contact.id, tag, account, env, STAMP0])
        for group in groups:
            if rnd.random() < 0.4:
                contact.groups.add(group)
                group_rows.append([contact.id, group, account, env, STAMP0])
    async with db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO contact_tag_members (contact_id, tag_id, account_id, env, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            tag_rows,
        )
        await conn.executemany(
            "INSERT INTO contact_group_members (contact_id, group_id, account_id, env,"
            " created_at) VALUES (?, ?, ?, ?, ?)",
            group_rows,
        )

    campaigns = [
        await _named(
            db,
            "email_campaigns",
            account,
            env,
            {"name": f"c{i}", "subject": "s", "from_email": "f@x.io", "status": "sent"},
        )
        for i in range(2)
    ]
    messages: list[Message] = []
    for campaign in campaigns:
        for contact in rnd.sample(contacts, CONTACTS // 2):
            messages.append(_message(rnd, now, contact.id, campaign, False))
        for contact in rnd.sample(contacts, 10):  # test copies: never count
            messages.append(_message(rnd, now, contact.id, campaign, True, sure=True))
    await _write_messages(db, account, env, messages)

    pipelines: dict[int, tuple[list[int], list[int]]] = {}
    for p in range(2):
        pipeline = await _named(db, "pipelines", account, env, {"name": f"p{p}", "currency": "eur"})
        stages = [
            await _named(
                db,
                "deal_stages",
                account,
                env,
                {"pipeline_id": pipeline, "name": f"s{s}", "position": s},
            )
            for s in range(3)
        ]
        statuses = [
            await _named(
                db, "deal_statuses", account, env, {"pipeline_id": pipeline, "name": f"st{s}"}
            )
            for s in range(2)
        ]
        pipelines[pipeline] = (stages, statuses)
    deals = []
    for _ in range(80):
        pipeline = rnd.choice(list(pipelines))
        stages, statuses = pipelines[pipeline]
        deals.append(
            Deal(
                rnd.choice(contacts).id if rnd.random() < 0.9 else None,
                pipeline,
                rnd.choice(stages),
                rnd.choice(statuses) if rnd.random() < 0.7 else None,
            )
        )
    await _write_deals(db, account, env, deals)
    return World(now, contacts, kinds, slots, tags, groups, campaigns, messages, pipelines, deals)


def _message(
    rnd: random.Random,
    now: datetime,
    contact: int,
    campaign: int,
    is_test: bool,
    sure: bool = False,
) -> Message:
    def ago() -> datetime:
        return now - timedelta(seconds=rnd.uniform(0, 60 * 86400))

    sent = ago() if sure or rnd.random() < 0.8 else None
    opened = clicked = None
    if sent is not None:
        if sure or rnd.random() < 0.4:
            opened = min(now, sent + timedelta(seconds=rnd.uniform(0, 5 * 86400)))
        if sure or rnd.random() < 0.2:
            clicked = min(now, sent + timedelta(seconds=rnd.uniform(0, 5 * 86400)))
            if rnd.random() < 0.3:
                opened = None  # a click without a recorded open (images off)
    return Message(contact, campaign, is_test, sent, opened, clicked)


async def _write_messages(db: Database, account: int, env: str, messages: list[Message]) -> None:
    rows = [
        [
            account,
            env,
            m.campaign,
            m.contact,
            m.is_test,
            "sent" if m.sent else "queued",
            "2026-01-01T00:00:00.000000Z",
            None if m.sent is None else _stamp(m.sent),
            None if m.opened is None else _stamp(m.opened),
            None if m.clicked is None else _stamp(m.clicked),
            "2026-01-01T00:00:00.000000Z",
            "2026-01-01T00:00:00.000000Z",
        ]
        for m in messages
    ]
    async with db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO email_messages (account_id, env, campaign_id, contact_id, is_test,"
            " status, due_at, sent_at, opened_at, clicked_at, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


async def _write_deals(db: Database, account: int, env: str, deals: list[Deal]) -> None:
    rows = [
        [account, env, f"d{i}", d.pipeline, d.stage, d.contact, "EUR", d.status, "x", "x"]
        for i, d in enumerate(deals)
    ]
    async with db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO deals (account_id, env, name, pipeline_id, stage_id, contact_id,"
            " currency, status_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


async def _look_alikes(
    db: Database, rnd: random.Random, world: World, account: int, other: int
) -> None:
    """Rows of another account (and of this account's live environment) that look like
    this account's, some naming its contacts, campaigns, tags and pipelines outright
    (which the application never writes): the compiled subqueries must ignore them."""
    mirror = await _populate(db, rnd, other, "sandbox", world.now)
    for owner, env in ((other, "sandbox"), (account, "live")):
        foreign = [
            _message(rnd, world.now, c.id, rnd.choice(world.campaigns), False, sure=True)
            for c in rnd.sample(world.contacts, 60)
        ]
        # a second row for a (campaign, contact) is refused unless it is a test copy's;
        # these pairs do not repeat within this batch but may repeat the account's own
        async with db.transaction() as conn:
            for m in foreign:
                await conn.execute(
                    "INSERT INTO email_messages (account_id, env, campaign_id, contact_id,"
                    " is_test, status, due_at, sent_at, opened_at, clicked_at, created_at,"
                    " updated_at) SELECT ?, ?, ?, ?, ?, 'sent', 'x', ?, ?, ?, 'x', 'x'"
                    " WHERE NOT EXISTS (SELECT 1 FROM email_messages WHERE campaign_id = ?"
                    " AND contact_id = ? AND is_test = ? AND account_id IS NOT NULL)",
                    [
                        owner,
                        env,
                        m.campaign,
                        m.contact,
                        False,
                        _stamp(m.sent or world.now),
                        None if m.opened is None else _stamp(m.opened),
                        None if m.clicked is None else _stamp(m.clicked),
                        m.campaign,
                        m.contact,
                        False,
                    ],
                )
        pipeline = rnd.choice(list(world.pipelines))
        stages, statuses = world.pipelines[pipeline]
        await _write_deals(
            db,
            owner,
            env,
            [
                Deal(c.id, pipeline, rnd.choice(stages), rnd.choice(statuses))
                for c in rnd.sample(world.contacts, 40)
            ],
        )
        async with db.transaction() as conn:
            for c in world.contacts:
                for tag in world.tags:
                    if tag not in c.tags and rnd.random() < 0.3:
                        await conn.execute(
                            "INSERT INTO contact_tag_members (contact_id, tag_id, account_id, env,"
                            " created_at) SELECT ?, ?, ?, ?, 'x' WHERE NOT EXISTS (SELECT 1 FROM"
                            " contact_tag_members WHERE contact_id = ? AND tag_id = ?"
                            " AND account_id IS NOT NULL)",
                            [c.id, tag, owner, env, c.id, tag],
                        )
                for group in world.groups:
                    if group not in c.groups and rnd.random() < 0.3:
                        await conn.execute(
                            "INSERT INTO contact_group_members (contact_id, group_id, account_id,"
                            " env, created_at) SELECT ?, ?, ?, ?, 'x' WHERE NOT EXISTS (SELECT 1"
                            " FROM contact_group_members WHERE contact_id = ? AND group_id = ?"
                            " AND account_id IS NOT NULL)",
                            [c.id, group, owner, env, c.id, group],
                        )
    # the other account's contacts also carry values under this account's field ids
    async with db.transaction() as conn:
        for contact in mirror.contacts:
            stored = {str(world.slots[k]): v for k, v in contact.values.items()}
            stored |= {str(mirror.slots[k]): v for k, v in contact.values.items()}
            await conn.execute(
                "UPDATE contacts SET fields = ? WHERE id = ? AND account_id = ?",
                [orjson.dumps(stored).decode() if stored else None, contact.id, other],
            )


# ---------------------------------------------------------------- random trees


class Trees:
    def __init__(self, rnd: random.Random, world: World) -> None:
        self.rnd = rnd
        self.world = world

    def tree(self, depth: int = 0) -> Any:
        rnd = self.rnd
        if depth < 3 and rnd.random() < 0.5 - 0.1 * depth:
            kind = rnd.choice(["all", "any", "not"])
            if kind == "not":
                return {"not": self.tree(depth + 1)}
            return {kind: [self.tree(depth + 1) for _ in range(rnd.randint(1, 3))]}
        return self.leaf()

    def leaf(self) -> Any:
        rnd = self.rnd
        w = self.world
        kind = rnd.choices(
            ["field", "custom", "tag", "group", "email", "deal"], [4, 8, 1, 1, 2, 2]
        )[0]
        if kind == "tag":
            return {"tag": rnd.choice(w.tags), "has": rnd.random() < 0.5}
        if kind == "group":
            return {"group": rnd.choice(w.groups), "in": rnd.random() < 0.5}
        if kind == "email":
            leaf: dict[str, Any] = {"email": rnd.choice(["received", "opened", "clicked"])}
            if rnd.random() < 0.6:
                leaf["campaignId"] = rnd.choice(w.campaigns)
            if rnd.random() < 0.5:
                leaf["withinDays"] = rnd.choice([0, 1, 7, 30, 59, 365])
            if rnd.random() < 0.5:
                leaf["negate"] = rnd.random() < 0.5
            return leaf
        if kind == "deal":
            pipeline = rnd.choice(list(w.pipelines))
            stages, statuses = w.pipelines[rnd.choice(list(w.pipelines))]
            deal: dict[str, Any] = {}
            if rnd.random() < 0.5:
                deal["pipelineId"] = pipeline
            if rnd.random() < 0.4:
                deal["stageId"] = rnd.choice(stages)
            if rnd.random() < 0.3:
                deal["statusId"] = rnd.choice(statuses)
            return {"deal": deal, "has": rnd.random() < 0.5}
        if kind == "field":
            name = rnd.choice(
                ["email", "firstName", "lastName", "phone", "status", "createdAt", "updatedAt"]
            )
            type_ = {"status": "status", "createdAt": "timestamp", "updatedAt": "timestamp"}.get(
                name, "text"
            )
        else:
            key = rnd.choice(list(w.kinds))
            name, type_ = f"fields.{key}", w.kinds[key]
        op = rnd.choice(OPS[type_])
        leaf = {"field": name, "op": op}
        if op not in ("is_set", "is_not_set"):
            leaf["value"] = self.value(type_, op)
        return leaf

    def value(self, type_: str, op: str) -> Any:
        rnd = self.rnd
        if op in ("within_last_days", "more_than_days_ago"):
            return rnd.choice([0, 1, 2, 7, 30, 45, 100, 400])
        if op == "in":
            return [self.one(type_) for _ in range(rnd.randint(1, 4))]
        return self.one(type_)

    def one(self, type_: str) -> Any:
        rnd = self.rnd
        today = self.world.now.date()
        if type_ in ("text", "dropdown"):
            pool = TEXTS + FIRST + LAST + DROPDOWN + PROBES
            text = rnd.choice(pool)
            if rnd.random() < 0.3 and len(text) > 2:
                start = rnd.randint(0, len(text) - 2)
                text = text[start : start + rnd.randint(1, len(text) - start)]
            cases: list[Callable[[str], str]] = [str.lower, str.upper, str.swapcase, str.title, str]
            return rnd.choice(cases)(text)
        if type_ == "status":
            return rnd.choice(STATUSES)
        if type_ == "number":
            return rnd.choice(
                [rnd.randint(-60, 60), round(rnd.uniform(-100, 100), 2), 0, -0.5, 2.5]
            )
        if type_ == "boolean":
            return rnd.random() < 0.5
        if type_ == "multiselect":
            return rnd.choice(MULTI)
        if type_ == "date":
            return (today + timedelta(days=rnd.randint(-130, 25))).isoformat()
        # timestamp: a date, or a date-time in UTC, with an offset, or without a zone
        moment = self.world.now - timedelta(seconds=rnd.uniform(-2 * 86400, 130 * 86400))
        form = rnd.randrange(4)
        if form == 0:
            return moment.date().isoformat()
        if form == 1:
            return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
        if form == 2:
            return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds")
        return moment.astimezone(PLUS2).isoformat()


OPS: dict[str, list[str]] = {
    "text": [
        "eq",
        "ne",
        "contains",
        "not_contains",
        "starts_with",
        "ends_with",
        "in",
        "is_set",
        "is_not_set",
    ],
    "status": ["eq", "ne", "in"],
    "number": ["eq", "ne", "in", "gt", "gte", "lt", "lte", "is_set", "is_not_set"],
    "date": [
        "eq",
        "ne",
        "in",
        "gt",
        "gte",
        "lt",
        "lte",
        "is_set",
        "is_not_set",
        "within_last_days",
        "more_than_days_ago",
    ],
    "timestamp": ["gt", "gte", "lt", "lte", "within_last_days", "more_than_days_ago"],
    "boolean": ["eq", "ne", "is_set", "is_not_set"],
    "multiselect": ["contains", "not_contains", "in", "is_set", "is_not_set"],
}
OPS["dropdown"] = OPS["text"]


# ---------------------------------------------------------------- the evaluator


class Evaluator:
    """The rules, applied to one contact at a time."""

    def __init__(self, world: World) -> None:
        self.w = world
        self.now = world.now
        self.today = world.now.date()

    def matches(self, tree: Any, c: Contact) -> bool:
        if "all" in tree:
            return all(self.matches(child, c) for child in tree["all"])
        if "any" in tree:
            return any(self.matches(child, c) for child in tree["any"])
        if "not" in tree:
            return not self.matches(tree["not"], c)
        if "tag" in tree:
            return (tree["tag"] in c.tags) == bool(tree["has"])
        if "group" in tree:
            return (tree["group"] in c.groups) == bool(tree["in"])
        if "email" in tree:
            return self.email(tree, c) != bool(tree.get("negate", False))
        if "deal" in tree:
            return self.deal(tree["deal"], c) == bool(tree["has"])
        return self.field(tree, c)

    def email(self, leaf: dict[str, Any], c: Contact) -> bool:
        since = None
        if "withinDays" in leaf:
            since = self.now - timedelta(days=leaf["withinDays"])
        for m in self.w.messages:
            if m.contact != c.id or m.is_test:
                continue
            if "campaignId" in leaf and m.campaign != leaf["campaignId"]:
                continue
            if leaf["email"] == "received":
                times = [m.sent]
            elif leaf["email"] == "clicked":
                times = [m.clicked]
            else:
                times = [m.opened, m.clicked]
            if any(t is not None and (since is None or t >= since) for t in times):
                return True
        return False

    def deal(self, wanted: dict[str, int], c: Contact) -> bool:
        return any(
            d.contact == c.id
            and wanted.get("pipelineId", d.pipeline) == d.pipeline
            and wanted.get("stageId", d.stage) == d.stage
            and ("statusId" not in wanted or wanted["statusId"] == d.status)
            for d in self.w.deals
        )

    def field(self, leaf: dict[str, Any], c: Contact) -> bool:
        name: str = leaf["field"]
        op: str = leaf["op"]
        value: Any = leaf.get("value")
        have: Any
        if name.startswith("fields."):
            key = name.removeprefix("fields.")
            kind = self.w.kinds[key]
            have = c.values.get(key)
        else:
            kind, have = {
                "email": ("text", c.email),
                "firstName": ("text", c.first),
                "lastName": ("text", c.last),
                "phone": ("text", c.phone),
                "status": ("status", c.status),
                "createdAt": ("timestamp", c.created),
                "updatedAt": ("timestamp", c.updated),
            }[name]
        if op == "is_set":
            return have is not None
        if op == "is_not_set":
            return have is None
        if have is None:
            return False
        if kind in ("text", "dropdown"):
            return _text(op, have.lower(), value)
        if kind == "multiselect":
            chosen = value if op == "in" else [value]
            found = any(v in have for v in chosen)
            return not found if op == "not_contains" else found
        if kind == "boolean":
            return bool(have == value) == (op == "eq")
        if kind == "date":
            day = date.fromisoformat(have)
            if op == "within_last_days":
                return self.today - timedelta(days=value) <= day <= self.today
            if op == "more_than_days_ago":
                return day < self.today - timedelta(days=value)
            wanted: Any = (
                [date.fromisoformat(v) for v in value] if op == "in" else date.fromisoformat(value)
            )
            return _order(op, day, wanted)
        if kind == "timestamp":
            if op == "within_last_days":
                return bool(self.now - timedelta(days=value) <= have <= self.now)
            if op == "more_than_days_ago":
                return bool(have < self.now - timedelta(days=value))
            return _order(op, have, _instant(value))
        return _order(op, have, value)  # number, status


def _text(op: str, have: str, value: Any) -> bool:
    if op == "in":
        return have in {v.lower() for v in value}
    wanted = value.lower()
    return bool(
        {
            "eq": have == wanted,
            "ne": have != wanted,
            "contains": wanted in have,
            "not_contains": wanted not in have,
            "starts_with": have.startswith(wanted),
            "ends_with": have.endswith(wanted),
        }[op]
    )


def _order(op: str, have: Any, wanted: Any) -> bool:
    if op == "in":
        return bool(have in wanted)
    return bool(
        {
            "eq": have == wanted,
            "ne": have != wanted,
            "gt": have > wanted,
            "gte": have >= wanted,
            "lt": have < wanted,
            "lte": have <= wanted,
        }[op]
    )


def _instant(value: str) -> datetime:
    if len(value) == 10:
        return datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC)
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# ---------------------------------------------------------------- the test


async def _matching(db: Database, principal: Principal, tree: Any, now: datetime) -> set[int]:
    """The contacts the tree matches, as the database finds them: under the plain tenant
    scope with the default driver, and under each scope `plan` gives with its driver
    (which must all agree)."""
    checked = await check(db, principal, tree, "conditions")
    answers = []
    for planned in (False, True):
        scopes = ["account_id = ? AND env = ?"]
        if planned:
            chosen = await plan(db, principal, checked)
            scopes = [chosen.rows, chosen.count]
        where = compile_tree(checked, principal, db.dialect, now=now)
        for scope in scopes:
            rows = await db.fetchall(
                f"SELECT id FROM contacts WHERE {scope} AND {where.sql}",
                [principal.account_id, principal.env, *where.params],
            )
            answers.append({int(row["id"]) for row in rows})
    assert all(answer == answers[0] for answer in answers), (SEED, tree, answers)
    return answers[0]


async def test_random_trees_match_the_rules(app: FastAPI, account: Account, other: Account) -> None:
    db = app.state.services.db
    rnd = random.Random(SEED)
    now = datetime.now(UTC)
    world = await _populate(db, rnd, int(account.id), "sandbox", now)
    await _look_alikes(db, rnd, world, int(account.id), int(other.id))
    principal = Principal.acting_for(int(account.id), "sandbox")
    evaluator = Evaluator(world)
    trees = Trees(rnd, world)
    everyone = {c.id for c in world.contacts}
    assert await _matching(db, principal, {"field": "email", "op": "is_set"}, now) == everyone
    sizes = []
    for n in range(TREES):
        tree = trees.tree()
        got = await _matching(db, principal, tree, now)
        want = {c.id for c in world.contacts if evaluator.matches(tree, c)}
        if got != want:
            extra = sorted(got - want)[:5]
            missing = sorted(want - got)[:5]
            detail = {
                cid: next(vars(c) for c in world.contacts if c.id == cid)
                for cid in (extra + missing)[:2]
                if cid in everyone
            }
            raise AssertionError(
                f"seed {SEED}, tree {n}: {orjson.dumps(tree).decode()}\n"
                f"matched but should not: {extra}; should but did not: {missing}\n{detail}"
            )
        sizes.append(len(got))
    # The trees were worth asking: many match some contacts and not all of them.
    assert sum(0 < size < CONTACTS for size in sizes) > TREES // 3, (SEED, sizes)
