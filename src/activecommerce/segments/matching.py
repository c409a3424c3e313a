"""A stored segment as one SQL condition on `contacts`, for the lists that filter by it
(the contacts list's `segmentId`, a segment's contacts, the export).

Kept apart from `segments.service`, which reads contacts: the contacts list reads this."""

from __future__ import annotations

import orjson

from activecommerce.kit.db import Connection, Database
from activecommerce.kit.listing import Condition
from activecommerce.kit.principal import Principal
from activecommerce.kit.problems import Problem
from activecommerce.segments import repository
from activecommerce.segments.conditions import check, compile_tree

NOTHING = Condition("1 = 0", [])


async def segment_condition(
    db: Connection | Database, principal: Principal, segment_id: int | None
) -> Condition | None:
    """The condition true for the contacts the caller's segment matches, compiled now (so
    that "within the last 7 days" means from today); None when the caller has no such
    segment. A stored tree that no longer checks (it cannot, while deletes of what it
    names are refused) matches nothing."""
    if segment_id is None:
        return None
    text = await repository.conditions_of(db, principal, segment_id)
    if text is None:
        return None
    try:
        checked = await check(db, principal, orjson.loads(text), "conditions")
    except Problem:
        return NOTHING
    return compile_tree(checked, principal, db.dialect)
