"""An action on every contact a list's filters match (contacts/selection.py): the job
resumes from the position its last batch committed, its progress is its account's and
environment's only, a deleted tag ends it, and a text search's matches are all reached."""

from __future__ import annotations

import httpx
import pytest
from conftest import Account
from fastapi import FastAPI
from helpers import created

from activecommerce.contacts import selection
from activecommerce.jobs import queue
from activecommerce.jobs.queue import Job, Lease
from activecommerce.kit.principal import Principal
from activecommerce.kit.problems import Problem

WORKER = "test-selection-worker"  # holds the job: the embedded worker leaves it alone


async def _people(api: httpx.AsyncClient, prefix: str, n: int) -> list[dict[str, str]]:
    return [
        await created(api, "/v3/contacts", {"email": f"{prefix}{i}@example.com"}) for i in range(n)
    ]


async def _tagged(api: httpx.AsyncClient, tag_id: str) -> set[str]:
    listed = await api.get("/v3/contacts", params={"tagId": tag_id, "pageSize": 100})
    return {c["id"] for c in listed.json()["data"]}


async def _held_job(app: FastAPI, payload: dict[str, object], account_id: int) -> Job:
    """The action queued as if a worker (this test) had claimed it."""
    db = app.state.services.db
    async with db.transaction() as conn:
        job_id = await queue.enqueue(
            conn,
            selection.RUN,
            payload,
            account_id=account_id,
            held_by=WORKER,
            lease_seconds=120,
        )
    return Job(job_id, selection.RUN, dict(payload), 1, account_id, None, Lease(120))


async def test_a_job_resumes_after_its_last_committed_batch(
    app: FastAPI, account: Account, other: Account
) -> None:
    api = account.live
    db = app.state.services.db
    people = await _people(api, "sel", 12)
    outsider = await created(api, "/v3/contacts", {"email": "outsider@example.org"})
    tag = await created(api, "/v3/contactTags", {"name": "resumed"})
    principal = Principal.acting_for(int(account.id), "live")
    # As a worker killed after the batch that reached the fifth contact left it.
    fifth = await db.fetchone(
        "SELECT created_at FROM contacts WHERE id = ? AND account_id = ?",
        (int(people[4]["id"]), int(account.id)),
    )
    assert fifth is not None
    payload = {
        "account_id": int(account.id),
        "env": "live",
        "action": "tag",
        "target": int(tag["id"]),
        "filters": {"q": "sel"},
        "total": 12,
        "done": 5,
        "after": [fifth["created_at"], int(people[4]["id"])],
    }
    job = await _held_job(app, payload, int(account.id))
    shown = await selection.progress(db, principal, job.id)
    assert shown == {"action": "tag", "total": 12, "done": 5}
    # Another account, or the other environment, sees nothing of it.
    assert await selection.progress(db, Principal.acting_for(int(other.id), "live"), job.id) is None
    assert (
        await selection.progress(db, Principal.acting_for(int(account.id), "sandbox"), job.id)
        is None
    )

    await selection.BulkRunner(db)(job, WORKER)
    assert await _tagged(api, tag["id"]) == {p["id"] for p in people[5:]}
    assert outsider["id"] not in await _tagged(api, tag["id"])
    assert await selection.progress(db, principal, job.id) is None  # finished: gone


async def test_a_job_whose_tag_is_deleted_ends(app: FastAPI, account: Account) -> None:
    api = account.live
    db = app.state.services.db
    await _people(api, "gone", 3)
    tag = await created(api, "/v3/contactTags", {"name": "short-lived"})
    payload = {
        "account_id": int(account.id),
        "env": "live",
        "action": "tag",
        "target": int(tag["id"]),
        "filters": {},
        "total": 3,
        "done": 0,
        "after": None,
    }
    job = await _held_job(app, payload, int(account.id))
    assert (await api.delete(f"/v3/contactTags/{tag['id']}")).status_code == 204
    await selection.BulkRunner(db)(job, WORKER)
    principal = Principal.acting_for(int(account.id), "live")
    assert await selection.progress(db, principal, job.id) is None


async def test_apply_now_reaches_every_match_of_a_search_in_batches(
    app: FastAPI, account: Account, other: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = account.live
    db = app.state.services.db
    matching = await _people(api, "findme", 7)
    await _people(api, "nothere", 3)
    theirs = await _people(other.live, "findme", 2)
    group = await created(api, "/v3/contactGroups", {"name": "found"})
    principal = Principal.acting_for(int(account.id), "live")
    action = selection.ACTIONS["group"]
    monkeypatch.setattr(selection, "batch_size", lambda db, action: 3)
    done = await selection.apply_now(db, principal, action, int(group["id"]), {"q": "findme"})
    assert done == 7
    listed = await api.get("/v3/contacts", params={"groupId": group["id"], "pageSize": 100})
    assert {c["id"] for c in listed.json()["data"]} == {p["id"] for p in matching}
    for person in theirs:
        assert (await other.live.get(f"/v3/contacts/{person['id']}/groups")).json()["data"] == []
    # Another account's group is a 404 before anything changes.
    their_group = await created(other.live, "/v3/contactGroups", {"name": "theirs"})
    with pytest.raises(Problem) as refused:
        await selection.apply_now(db, principal, action, int(their_group["id"]), {})
    assert refused.value.status == 404
