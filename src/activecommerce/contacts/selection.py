"""An action on every contact that the contacts list's filters match (the console's
"select all matching"): tag, untag, add to a group, remove from a group, delete.

The selection is the list's own condition (`contacts.lists.conditions`), so it honours
every filter the list takes, whatever is added to it later. Its contacts are walked in
creation order a batch at a time (a keyset on (created_at, id): each batch's ids read
off the event loop, then changed in a transaction of its own), so neither the ids nor one
huge write ever sit in the process or hold the database. The changes are the same as
one contact's through the API: `Membership.add_many` / `remove_many` record a
`contact.tagged` (...) event per membership that changed, and a delete is the contacts
`Resource`'s, with its guards and events.

A selection of up to `INLINE_LIMIT` contacts runs in the request (`apply_now`); a larger
one is a job (`RUN`, `queue_job`), whose payload keeps where the last committed batch
ended, so that a worker killed in the middle is followed by one that resumes from there
(`BulkRunner`); `progress` reads it while it runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypedDict, cast

from activecommerce.contacts import repository
from activecommerce.contacts.service import (
    Membership,
    contact_group_membership,
    contact_tag_membership,
    contacts,
)
from activecommerce.jobs import payloads, queue
from activecommerce.jobs.queue import Job
from activecommerce.kit.db import Connection, Database, Row
from activecommerce.kit.listing import Condition
from activecommerce.kit.principal import Principal
from activecommerce.kit.problems import Problem, invalid

RUN = "contacts.bulk"
# Up to this many contacts, an action runs in the request; more, and it is a job.
INLINE_LIMIT = 500


@dataclass(frozen=True, slots=True)
class Action:
    """What is done to each contact: a membership added or removed, or a delete."""

    name: str
    membership: Membership | None
    adds: bool = True
    done: str = ""  # "tagged": what the console says of the contacts afterwards


ACTIONS = {
    action.name: action
    for action in (
        Action("tag", contact_tag_membership, True, "tagged"),
        Action("untag", contact_tag_membership, False, "untagged"),
        Action("group", contact_group_membership, True, "added to the group"),
        Action("ungroup", contact_group_membership, False, "removed from the group"),
        Action("delete", None, done="deleted"),
    )
}


def filters_of(values: Mapping[str, Any]) -> dict[str, str]:
    """The contacts list's filters among `values` (API names, already checked as the
    list checks them), without the empty ones: what a selection is."""
    names = {flt.name for flt in contacts.filters}
    return {name: str(value) for name, value in values.items() if name in names and value}


def batch_size(db: Database, action: Action) -> int:
    """Contacts per transaction, so that one holds SQLite's writer, or a batch's row
    locks on PostgreSQL, for a few tens of milliseconds (each contact's event is its own
    statement: measured about 0.07 ms a contact on SQLite, 0.5 ms on PostgreSQL); a
    delete (a contact's guards, references and event each) a quarter of that."""
    size = 200 if db.dialect == "sqlite" else 100
    return size // 4 if action.membership is None else size


async def matching(db: Database, principal: Principal, filters: dict[str, str]) -> tuple[int, bool]:
    """How many contacts the filters match, and whether that is exact (a text search's
    count may be a lower bound): the list's own total."""
    listed = await contacts.list_rows(
        db,
        principal,
        page=1,
        page_size=1,
        sort_by="createdAt",
        sort_order="asc",
        filters=dict(filters),
    )
    meta = listed["meta"]
    return int(meta["total"]), bool(meta.get("totalExact", True))


def action_of(name: str) -> Action:
    action = ACTIONS.get(name)
    if action is None:
        raise invalid("action", f"must be one of {', '.join(ACTIONS)}")
    return action


async def _where(db: Database, principal: Principal, filters: dict[str, str]) -> Condition:
    rows, _count = await contacts.lists.conditions(db, principal, dict(filters), None, ())
    return rows


async def _target(conn: Connection, principal: Principal, action: Action, target: int) -> Row:
    """The tag or group, share-locked until the batch commits (so that it cannot be
    deleted under it); another account's or a deleted one is a 404 Problem."""
    assert action.membership is not None
    return await action.membership.target.get_row(conn, principal, str(target), lock="KEY SHARE")


async def _apply(
    conn: Connection, principal: Principal, action: Action, target: int | None, ids: list[int]
) -> None:
    membership = action.membership
    if membership is None:
        for contact_id in ids:
            with contextlib.suppress(Problem):  # deleted meanwhile: nothing to do
                await contacts.delete(conn, principal, str(contact_id))
        return
    assert target is not None
    row = await _target(conn, principal, action, target)
    change = membership.add_many if action.adds else membership.remove_many
    await change(conn, principal, ids, row)


Position = tuple[str, int] | None


async def _next(
    db: Database, where: Condition, after: Position, size: int
) -> tuple[list[int], Position]:
    rows = await repository.matching_after(db, where.sql, where.params, after, size)
    if not rows:
        return [], after
    return [int(row["id"]) for row in rows], (str(rows[-1]["created_at"]), int(rows[-1]["id"]))


async def apply_now(
    db: Database, principal: Principal, action: Action, target: int | None, filters: dict[str, str]
) -> int:
    """The action on every contact the filters match, batch after batch, in this
    request; how many contacts it reached."""
    if target is not None:
        async with db.transaction() as conn:
            await _target(conn, principal, action, target)  # a 404 before any change
    where = await _where(db, principal, filters)
    size = batch_size(db, action)
    after: Position = None
    done = 0
    while True:
        ids, after = await _next(db, where, after, size)
        if not ids:
            return done
        async with db.transaction() as conn:
            await _apply(conn, principal, action, target, ids)
        done += len(ids)


async def apply_to(
    db: Database, principal: Principal, action: Action, target: int | None, ids: list[int]
) -> None:
    """The action on these contacts of the caller (a page's ticked ones: a few), in one
    transaction; ids of no contact of the caller's are passed over."""
    async with db.transaction() as conn:
        await _apply(conn, principal, action, target, ids)


async def queue_job(
    db: Database,
    principal: Principal,
    action: Action,
    target: int | None,
    filters: dict[str, str],
    total: int,
) -> int:
    """The action as a background job (its id), for a selection of about `total`."""
    payload: payloads.ContactsBulk = {
        "account_id": principal.account_id,
        "env": principal.env,
        "action": action.name,
        "target": target,
        "filters": filters,
        "total": total,
        "done": 0,
        "after": None,
    }
    async with db.transaction() as conn:
        if target is not None:
            await _target(conn, principal, action, target)  # a 404 before it is queued
        return await queue.enqueue(
            conn,
            RUN,
            payload,
            account_id=principal.account_id,
            # One account's bulk actions run one after the other, in the order asked.
            order_key=f"contacts.bulk:{principal.account_id}:{principal.env}",
        )


class BulkProgress(TypedDict):
    action: str
    total: int
    done: int


async def progress(db: Database, principal: Principal, job_id: int) -> BulkProgress | None:
    """Where a queued action of the caller stands; None once it has finished (or when
    there is no such action of the caller's)."""
    found = await queue.payload_of(db, principal.account_id, RUN, job_id)
    if found is None:
        return None
    payload = cast(payloads.ContactsBulk, found)
    if payload["env"] != principal.env:
        return None
    return {"action": payload["action"], "total": payload["total"], "done": payload["done"]}


class BulkRunner:
    """The `contacts.bulk` job handler of a worker: the batches from the payload's
    position on, each committed with the new position; the job ends with the last (or
    when its tag or group has been deleted meanwhile)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def __call__(self, job: Job, worker_id: str) -> None:
        payload = cast(payloads.ContactsBulk, dict(job.payload))
        principal = Principal.acting_for(payload["account_id"], payload["env"])
        action = ACTIONS[payload["action"]]
        target = payload["target"]
        where = await _where(self.db, principal, payload["filters"])
        size = batch_size(self.db, action)
        at = payload["after"]
        after: Position = None if at is None else (str(at[0]), int(at[1]))
        while True:
            ids, after = await _next(self.db, where, after, size)
            try:
                async with self.db.transaction() as conn:
                    if not await queue.system_lock_if_leased(conn, job, worker_id):
                        return  # another worker took the job over
                    if not ids:
                        await queue.system_finish(conn, job, worker_id)
                        return
                    await _apply(conn, principal, action, target, ids)
                    assert after is not None
                    payload["done"] += len(ids)
                    payload["after"] = [after[0], after[1]]
                    await queue.system_checkpoint(conn, job, worker_id, payload)
            except Problem as problem:
                if problem.status != 404:
                    raise
                async with self.db.transaction() as conn:  # its tag or group is gone
                    await queue.system_finish(conn, job, worker_id)
                return
