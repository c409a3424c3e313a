"""Idempotency-Key on POST, scoped to the account and environment.

Stored responses are encrypted, and never hold a secret that is shown once (an API key,
a webhook signing secret): a replay returns such a field as null. The key is claimed in
its own short transaction (so a concurrent retry sees it in flight: 409); the work and
the stored response then commit together, so a response is recorded exactly when its
change is. A claim whose work never finished (the process was killed) is treated as
abandoned after `ABANDONED_AFTER` and may be run again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from starlette.responses import Response

from activecommerce.kit.clock import now, stamp
from activecommerce.kit.db import Connection, Database, Row
from activecommerce.kit.fields import storable
from activecommerce.kit.principal import Principal
from activecommerce.kit.problems import Problem
from activecommerce.kit.repository import TENANT, tenant
from activecommerce.kit.security import SecretBox, sha256_hex

TTL = timedelta(hours=24)
ABANDONED_AFTER = timedelta(minutes=1)
# A claim's stored response, and the freeing of a claim whose work failed.
_STORE_SQL = (
    f"UPDATE idempotency_keys SET status_code = ?, body = ?, location = ? WHERE id = ? AND {TENANT}"
)
_FREE_SQL = f"DELETE FROM idempotency_keys WHERE id = ? AND {TENANT}"

Work = Callable[[Connection], Awaitable[tuple[int, dict[str, Any], str | None]]]
# What must pass before the work's transaction opens (a DNS lookup, a template parse).
# It runs after the key is claimed, so that a replay returns the stored response without
# running it again.
Check = Callable[[], Awaitable[None]]


def _respond(status: int, body: bytes, location: str | None, replayed: bool) -> Response:
    headers = {"Location": location} if location else {}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def request_hash(path: str, payload: Any) -> str:
    return sha256_hex(path.encode() + b"\n" + orjson.dumps(payload, option=orjson.OPT_SORT_KEYS))


async def run(
    db: Database,
    box: SecretBox,
    principal: Principal,
    key: str | None,
    fingerprint: str,
    work: Work,
    shown_once: tuple[str, ...] = (),
    check: Check | None = None,
) -> Response:
    """Run `work` once per key: claim the key, then run it and store its response with
    its change; a request already answered gets that answer back (replayed)."""
    if key is None:
        if check is not None:
            await check()
        async with db.transaction() as conn:
            status, body, location = await work(conn)
        return _respond(status, orjson.dumps(body), location, False)
    _check_key(key)
    claimed = await _claim(db, principal, key, fingerprint)
    if isinstance(claimed, int):
        return await _run_claimed(db, box, principal, claimed, work, shown_once, check)
    return _replay(box, claimed, fingerprint)


def _check_key(key: str) -> None:
    """A 422 unless the key is 1 to 255 storable characters."""
    if not 1 <= len(key) <= 255:
        raise Problem(
            422,
            "Idempotency-Key must be 1 to 255 characters.",
            errors=[{"field": "Idempotency-Key", "message": "must be 1 to 255 characters"}],
        )
    try:
        storable(key)
    except ValueError as exc:
        raise Problem(
            422,
            "Idempotency-Key is not valid.",
            errors=[{"field": "Idempotency-Key", "message": str(exc)}],
        ) from None


async def _claim(db: Database, principal: Principal, key: str, fingerprint: str) -> int | Row:
    """In a transaction of its own: drop the key's expired or abandoned claim, then claim
    it. The new claim's id, or (when the key is taken) the row that holds it."""
    scope = (principal.account_id, principal.env, key)
    moment = datetime.now(UTC)
    async with db.transaction() as conn:
        await conn.execute(
            "DELETE FROM idempotency_keys WHERE account_id = ? AND env = ? AND key = ?"
            " AND (created_at < ? OR (status_code IS NULL AND created_at < ?))",
            (*scope, stamp(moment - TTL), stamp(moment - ABANDONED_AFTER)),
        )
        claimed = await conn.fetchone(
            "INSERT INTO idempotency_keys (account_id, env, key, request_hash, created_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id",
            (*scope, fingerprint, now()),
        )
        if claimed is not None:
            return int(claimed["id"])
        existing = await conn.fetchone(
            "SELECT * FROM idempotency_keys WHERE account_id = ? AND env = ? AND key = ?",
            scope,
        )
    assert existing is not None
    return existing


def _replay(box: SecretBox, existing: Row, fingerprint: str) -> Response:
    """The stored response of the key's request: a 422 if this request is another one, a
    409 while the first is still running."""
    if existing["request_hash"] != fingerprint:
        raise Problem(
            422,
            "This Idempotency-Key was already used with a different request.",
            errors=[{"field": "Idempotency-Key", "message": "reused with another body"}],
        )
    if existing["status_code"] is None:
        raise Problem(409, "A request with this Idempotency-Key is still in flight.")
    return _respond(
        int(existing["status_code"]),
        box.open(existing["body"]).encode(),
        existing["location"],
        True,
    )


async def _run_claimed(
    db: Database,
    box: SecretBox,
    principal: Principal,
    claim_id: int,
    work: Work,
    shown_once: tuple[str, ...],
    check: Check | None,
) -> Response:
    """Run the work and store its response (sealed) in the claim, in one transaction;
    if anything fails, free the claim so that a retry runs the request again."""
    scope = tenant(principal)
    try:
        if check is not None:
            await check()
        async with db.transaction() as conn:
            status, body, location = await work(conn)
            encoded = orjson.dumps(body)
            # A secret is shown once: the stored response, which a replay returns, has
            # it as null (a replay after a revocation or a rotation must not show it).
            kept = {**body, **{name: None for name in shown_once if name in body}}
            await conn.execute(
                _STORE_SQL,
                (status, box.seal(orjson.dumps(kept).decode()), location, claim_id, *scope),
            )
    except BaseException:
        # Nothing was written: free the key so that a retry runs the request again.
        async with db.transaction() as conn:
            await conn.execute(_FREE_SQL, (claim_id, *scope))
        raise
    return _respond(status, encoded, location, False)
