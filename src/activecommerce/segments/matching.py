"""A stored segment as one SQL condition on `contacts`, for the lists that filter by it
(the contacts list's `segmentId`, a segment's contacts, the export).

Kept apart from `segments.service`, which reads contacts: the contacts list reads this."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from activecommerce.kit.db import Database
from activecommerce.kit.listing import Condition
from activecommerce.kit.principal import Principal
from activecommerce.kit.problems import Problem
from activecommerce.kit.repository import TENANT
from activecommerce.segments import repository
from activecommerce.segments.conditions import Checked, Scopes, check, compile_tree, plan

NOTHING = Condition("1 = 0", [])


@dataclass(frozen=True)
class Planned:
    """A tree compiled for one request: its condition on `contacts`, and the tenant
    conditions its page and its count go with (how the database reads it best)."""

    where: Condition
    scopes: Scopes


NOTHING_PLANNED = Planned(NOTHING, Scopes(TENANT, TENANT))


async def planned(db: Database, principal: Principal, checked: Checked) -> Planned:
    """A checked tree planned and compiled now (so that "within the last 7 days" means
    from today)."""
    scopes = await plan(db, principal, checked)
    return Planned(compile_tree(checked, principal, db.dialect), scopes)


async def segment_condition(
    db: Database, principal: Principal, segment_id: int | None
) -> Planned | None:
    """The caller's segment as a condition true for the contacts it matches; None when
    the caller has no such segment. A stored tree that no longer checks (it names a
    campaign or a deal pipeline, stage or status deleted since) matches nothing."""
    if segment_id is None:
        return None
    text = await repository.conditions_of(db, principal, segment_id)
    if text is None:
        return None
    try:
        checked = await check(db, principal, orjson.loads(text), "conditions")
    except Problem:
        return NOTHING_PLANNED
    return await planned(db, principal, checked)
