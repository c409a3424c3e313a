"""What each kind of job carries in its `payload` (a JSON object in the `jobs` table).

These are annotations only: a payload is the plain dict that `orjson` writes and reads
back, never validated or copied. The module that queues a kind builds its payload with
the kind's type, and the handler that runs it reads it through `cast` to the same type,
so both sides agree on the keys.
"""

from __future__ import annotations

from typing import TypedDict


class CampaignStart(TypedDict):
    """`campaign.start`: resolve the campaign's audience into recipients."""

    campaign: int


class EmailSend(TypedDict):
    """`email.send`: send these queued messages, all of one source (a campaign, its test
    copies, or an automation)."""

    ids: list[int]
    campaign: int | None
    automation: int | None
    test: bool


class EmailSimulate(TypedDict):
    """`email.simulate`: the sandbox mailbox simulator's report on a captured message."""

    message: int


class WebhookDelivery(TypedDict):
    """`webhook.deliver`: deliver one event to one webhook."""

    webhook_id: int
    event_id: int


class ImportRun(TypedDict):
    """`contacts.import`: process one import's staged lines."""

    import_id: int


class ContactsBulk(TypedDict):
    """`contacts.bulk`: an action on every contact a contacts list's filters match
    (contacts/selection.py), walked in creation order; `after` is where the last
    committed batch ended (created_at, id) and `done` how many contacts it had reached."""

    account_id: int
    env: str
    action: str
    target: int | None
    filters: dict[str, str]
    total: int
    done: int
    after: list[str | int] | None
