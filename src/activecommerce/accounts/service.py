"""Accounts, environments and API keys: the rules."""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import TypeAdapter, ValidationError

from activecommerce.accounts import repository as repo
from activecommerce.accounts.plans import PLANS, has_live
from activecommerce.kit.clock import now
from activecommerce.kit.db import Connection, Database, Row
from activecommerce.kit.fields import Name
from activecommerce.kit.principal import Principal
from activecommerce.kit.problems import Problem, invalid
from activecommerce.kit.repository import Scoped
from activecommerce.kit.security import display_prefix, key_hash, new_api_key

ENVIRONMENTS = ("live", "sandbox")
KEY_NAME: TypeAdapter[str] = TypeAdapter(Name)  # the API's rules for a key's name


async def server_secret(db: Database, configured: str | None) -> bytes:
    """The key behind every HMAC: from configuration, else made once and kept in the
    database, so that every process of a deployment shares it."""
    if configured:
        return configured.encode()
    existing = await repo.get_secret(db, "hmac")
    if existing is None:
        async with db.transaction() as conn:
            await repo.put_secret_if_absent(conn, "hmac", secrets.token_urlsafe(48))
        existing = await repo.get_secret(db, "hmac")
    assert existing is not None
    return existing.encode()


async def find_account(db: Database | Connection, account_id: int) -> Row | None:
    """The account (its name and plan), if there is one."""
    return await repo.get_account(db, account_id)


def account_view(row: Row) -> dict[str, Any]:
    """The account as `GET /v3/account` shows it."""
    return {
        "id": str(row["id"]),
        "name": row["name"],
        "plan": row["plan"],
        "postalAddress": row["postal_address"],
        "createdAt": row["created_at"],
        "updatedAt": row["updated_at"],
    }


async def account_of(db: Database | Connection, principal: Principal) -> dict[str, Any]:
    row = await repo.get_account(db, principal.account_id)
    if row is None:
        raise Problem(404, "No such account.")
    return account_view(row)


async def update_account(
    db: Database, principal: Principal, changes: dict[str, Any]
) -> dict[str, Any]:
    """The account's settings changed: only the fields sent (`postalAddress`: null or
    blank clears it)."""
    async with db.transaction() as conn:
        row = await repo.get_account(conn, principal.account_id)
        if row is None:
            raise Problem(404, "No such account.")
        if "postalAddress" in changes:
            # Lines end in \n (a form's textarea sends \r\n); blank is none.
            text = (changes["postalAddress"] or "").replace("\r\n", "\n").replace("\r", "\n")
            address = text.strip() or None
            row = await repo.set_postal_address(conn, principal.account_id, address, now())
            assert row is not None
    return account_view(row)


async def default_postal_address(db: Database | Connection, account_id: int) -> str | None:
    """The account's default postal address (for marketing mail whose brand has none)."""
    row = await repo.get_account(db, account_id)
    return None if row is None else (row["postal_address"] or None)


def key_view(row: Row, raw: str | None = None) -> dict[str, Any]:
    view = {
        "id": str(row["id"]),
        "name": row["name"],
        "prefix": row["prefix"],
        "environment": row["env"],
        "createdAt": row["created_at"],
        "lastUsedAt": row["last_used_at"],
    }
    if raw is not None:
        view["key"] = raw
    return view


async def _insert_key(
    conn: Connection, secret: bytes, account_id: int, env: str, stamp: str, name: str | None = None
) -> tuple[Any, str]:
    raw = new_api_key(env)
    row = await repo.insert_key(
        conn,
        account_id=account_id,
        env=env,
        key_hash=key_hash(secret, raw),
        prefix=display_prefix(raw),
        now=stamp,
        name=name,
    )
    return row, raw


async def create_key(
    conn: Connection, secret: bytes, account_id: int, env: str, name: str | None = None
) -> dict[str, Any]:
    """A new key (with an optional `name`: what it is for), shown once. A developer
    account (free) gets no live key: 403."""
    if env not in ENVIRONMENTS:
        raise Problem(422, f"Unknown environment {env!r}; choose live or sandbox.")
    account = await find_account(conn, account_id)
    if account is None:
        raise Problem(404, "No such account.")
    if env == "live" and not has_live(account["plan"]):
        raise Problem(
            403,
            "This is a developer account (plan free): it has the sandbox only. "
            "Upgrade the plan to create live keys.",
        )
    if name is not None:
        try:
            name = KEY_NAME.validate_python(name)
        except ValidationError as exc:
            raise invalid("name", exc.errors()[0]["msg"]) from None
    row, raw = await _insert_key(conn, secret, account_id, env, now(), name)
    return key_view(row, raw)


async def list_keys(
    scope: Scoped, limit: int, offset: int, *, revoked: bool = False
) -> tuple[int, list[dict[str, Any]]]:
    """A page of the environment's keys (how many in all, and their views), oldest first;
    with `revoked`, revoked ones too, and when each was."""
    total, rows = await repo.list_keys(scope, limit, offset, revoked=revoked)
    if revoked:
        return total, [{**key_view(row), "revokedAt": row["revoked_at"]} for row in rows]
    return total, [key_view(row) for row in rows]


async def revoke_key(db: Database, key_id: int, account_id: int, env: str | None) -> bool:
    async with db.transaction() as conn:
        return await repo.revoke_key(conn, key_id, account_id, env, now()) > 0


async def set_plan(db: Database, account_id: int, plan: str) -> None:
    if plan not in PLANS:
        raise Problem(422, f"Unknown plan {plan!r}; choose one of {', '.join(PLANS)}.")
    async with db.transaction() as conn:
        if await repo.set_plan(conn, account_id, plan, now()) == 0:
            raise Problem(404, "No such account.")


async def create_account(
    db: Database,
    secret: bytes,
    *,
    name: str,
    plan: str,
    on_created: Callable[[Connection, int], Awaitable[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """The account and its keys; `on_created` runs in the same transaction (the users
    domain makes the owner there) and its result is the `owner` field."""
    if plan not in PLANS:
        raise Problem(422, f"Unknown plan {plan!r}; choose one of {', '.join(PLANS)}.")
    stamp = now()
    keys: dict[str, str | None] = {"sandbox": None, "live": None}
    owner: dict[str, Any] | None = None
    async with db.transaction() as conn:
        account_id = await repo.insert_account(conn, name=name, plan=plan, now=stamp)
        for env in ENVIRONMENTS:
            if env == "live" and not has_live(plan):
                continue
            _row, keys[env] = await _insert_key(conn, secret, account_id, env, stamp)
        if on_created is not None:
            owner = await on_created(conn, account_id)
    created: dict[str, Any] = {
        "accountId": str(account_id),
        "name": name,
        "plan": plan,
        "sandboxApiKey": keys["sandbox"],
        "liveApiKey": keys["live"],
    }
    if owner is not None:
        created["owner"] = owner
    return created


class KeyAuthenticator:
    """Turns a presented API key into a Principal.

    One indexed read per request. `lastUsedAt` is written at most once a minute per key
    and process, so that reads do not turn into writes."""

    TOUCH_EVERY = 60.0

    def __init__(self, db: Database, secret: bytes) -> None:
        self._db = db
        self.secret = secret
        self._touched: dict[int, float] = {}

    async def authenticate(self, raw_key: str) -> Principal | None:
        if not raw_key or len(raw_key) > 200:
            return None
        row = await repo.system_find_active_key(self._db, key_hash(self.secret, raw_key))
        if row is None:
            return None
        principal = Principal(int(row["account_id"]), row["env"], row["plan"], int(row["id"]))
        monotonic = time.monotonic()
        if monotonic - self._touched.get(principal.key_id, -1e9) > self.TOUCH_EVERY:
            self._touched[principal.key_id] = monotonic
            async with self._db.transaction() as conn:
                await repo.touch_key(Scoped(conn, principal), principal.key_id, now())
        return principal
