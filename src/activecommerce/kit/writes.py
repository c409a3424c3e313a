"""A collection's writes, the one flow that the API (`api/routes.crud_router`) and the
console (`web/resources.py`) both run: the rules' `check` of the sent fields before any
transaction opens (it may look up an address or parse a template: never while holding
the writer), then the create, replace, patch or delete in one transaction, which fires
the collection's events.

A POST runs the same two steps through `idempotency.run`, which owns its transaction (the
created object and the stored response commit together): `check` as its `Check`, and
`Resource.create` inside its `Work`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from activecommerce.kit.db import Database
from activecommerce.kit.principal import Principal
from activecommerce.kit.resource import Resource, Rules


async def check(
    resource: Resource, principal: Principal, body: BaseModel, *, partial: bool = False
) -> None:
    """The rules' checks of a validated body (a PATCH: only the fields sent). Most
    collections have none: then the body is not even dumped."""
    rules = resource.rules
    if type(rules).check is not Rules.check:
        await rules.check(principal, body.model_dump(mode="json", exclude_unset=partial))


async def create(
    db: Database, resource: Resource, principal: Principal, body: BaseModel
) -> dict[str, Any]:
    """The new object (with its shown-once fields, if any)."""
    await check(resource, principal, body)
    async with db.transaction() as conn:
        return await resource.create(conn, principal, body)


async def replace(
    db: Database, resource: Resource, principal: Principal, object_id: str, body: BaseModel
) -> dict[str, Any]:
    """Every writable field of the object set from `body` (a PUT)."""
    await check(resource, principal, body)
    async with db.transaction() as conn:
        return await resource.replace(conn, principal, object_id, body)


async def patch(
    db: Database, resource: Resource, principal: Principal, object_id: str, body: BaseModel
) -> dict[str, Any]:
    """Only the fields sent in `body` changed (a PATCH)."""
    await check(resource, principal, body, partial=True)
    async with db.transaction() as conn:
        return await resource.patch(conn, principal, object_id, body)


async def delete(db: Database, resource: Resource, principal: Principal, object_id: str) -> None:
    """The object deleted (its delete guards may refuse: a 409 naming what needs it)."""
    async with db.transaction() as conn:
        await resource.delete(conn, principal, object_id)
