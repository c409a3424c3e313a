"""The sending jobs: a campaign's audience resolved into durable records, and
those records sent, each exactly once with the capture transport and at most once more
per SMTP connection after a crash.

- `campaign.start` (at `scheduledAt`) first fixes the audience (`campaigns/audiences.py`:
  the highest contact id, the moment, the segments' conditions, stored with the campaign
  so that a rerun uses the same), then walks the audience's one condition in contact id
  order up to that bound, a batch per transaction: it records the active contacts not yet
  recorded (the unique index makes a rerun after a crash harmless) and queues one
  `email.send` job for the records it made. The campaign is `sent` once its audience is
  resolved and no record is left queued.
- `email.send` renders and sends its records. Each outcome is committed (with the captured
  copy, for the capture transport, and the events) before the SMTP connection that sent
  it takes another message: commits are grouped across connections (`Committer`) so that
  this costs one transaction per batch, not one per message.
- Temporary failures leave the record queued and the job comes back with backoff; a
  recipient's given up at last is `failed` as a soft bounce. A permanent one decides it
  (`failed`; the contact `bounced` only when the mailbox does not exist, 5.1.x). A relay
  that refuses the sender or the connection (`SenderRefused`) blames no recipient: the
  run stops, its messages stay queued, and a campaign is `paused` with the reason
  (SPEC §14, "Classification").

Database faults (docs/decisions/008-email-sending.md, "Faults"). What bounds duplicates is
that the relay never holds a message the database will not learn of, beyond one per
connection:

- an outcome whose commit fails is not dropped: `Committer` keeps it and commits it again
  (with backoff) until it is durable, so an aborted group commit (a deadlock, a lock held
  by another process, a cut connection, an outage) never leaves "sent" messages queued
  to be sent again; the connection that sent it stays lent until then;
- once a commit has failed, no new message leaves (`Committer.failing`) and the job's run
  stops taking recipients: what it has not sent stays queued for the job's next run;
- before each message the job's lease is checked (`Lease.held`, known without a query):
  a job whose lease ran out (the heartbeat could not extend it) or was taken by another
  worker sends nothing more.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, cast

from activecommerce.automations import state as automations
from activecommerce.campaigns import audiences
from activecommerce.campaigns import state as campaigns
from activecommerce.config import Settings
from activecommerce.deliverability import service as reports
from activecommerce.deliverability import simulator
from activecommerce.deliverability.service import Kind, Report
from activecommerce.email import repository, service
from activecommerce.email.compose import (
    Composed,
    Content,
    Unsendable,
    compose,
    prepare_content,
)
from activecommerce.email.config import EmailConfig
from activecommerce.email.repository import Source
from activecommerce.email.service import email_view, principal_of
from activecommerce.email.transport import (
    PermanentFailure,
    SenderRefused,
    SmtpPool,
    TemporaryFailure,
    status_code,
)
from activecommerce.fields import values
from activecommerce.fields.definitions import FieldDef, definitions
from activecommerce.jobs import payloads, queue
from activecommerce.jobs.queue import Job
from activecommerce.kit import events
from activecommerce.kit.clock import after
from activecommerce.kit.db import (
    ConcurrentChange,
    Connection,
    Database,
    DatabaseUnavailable,
    Row,
)
from activecommerce.kit.principal import Principal
from activecommerce.kit.repository import Scoped
from activecommerce.sendingdomains import service as sending_domains

log = logging.getLogger("activecommerce.email")


@dataclass
class Mark:
    """One recipient's outcome, to commit (with its captured copy, when captured)."""

    row: Row
    status: str  # sent | failed | skipped
    to: str | None
    error: str | None = None
    # What the refusal was (a delivery report of the relay's): hard | soft | policy.
    report: Kind | None = None
    status_code: str | None = None
    captured: Composed | None = None


# The database could not take the transaction now (down, locked, a cut connection, a
# deadlock's victim): the same transaction can be tried again.
TRANSIENT = (DatabaseUnavailable, ConcurrentChange, OSError, TimeoutError)


class Committer:
    """Group commit: outcomes submitted while a transaction runs go into the next one, and
    each submitter waits until its own outcome is committed.

    A transaction that fails for a transient reason is tried again, with the same outcomes,
    until it commits: "the relay accepted message X" is never forgotten while this process
    lives, so an aborted group commit cannot make the job send X again. Meanwhile
    `failing` is set, and senders send nothing new. Another error (a bug) is isolated: the
    outcomes are committed one by one, and only the one that fails alone fails."""

    MAX_BATCH = 200
    RETRY_MAX_SECONDS = 1.0

    def __init__(self, db: Database) -> None:
        self.db = db
        self.pending: list[tuple[Mark, asyncio.Future[None]]] = []
        self.task: asyncio.Task[None] | None = None
        # Campaigns seen canceled by a commit: their jobs stop taking new recipients.
        self.canceled: set[int] = set()
        # Set by a failed commit, cleared by the next one that succeeds.
        self.failing = False

    async def submit(self, mark: Mark) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pending.append((mark, future))
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._flush())
        await future

    async def _flush(self) -> None:
        delay = 0.02
        while self.pending:
            batch = self.pending[: self.MAX_BATCH]
            del self.pending[: self.MAX_BATCH]
            try:
                await self._commit(batch)
            except TRANSIENT as exc:
                if not self.failing:
                    log.warning("committing sent mail failed (%s); retrying", type(exc).__name__)
                self.failing = True
                self.pending[:0] = batch  # first in the next transaction
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.RETRY_MAX_SECONDS)
                continue
            except Exception:
                await self._one_by_one(batch)
                continue
            if self.failing:
                log.warning("committing sent mail works again")
            self.failing = False
            delay = 0.02
            for _, future in batch:
                if not future.done():
                    future.set_result(None)

    async def _commit(self, batch: list[tuple[Mark, asyncio.Future[None]]]) -> None:
        async with self.db.transaction() as conn:
            for mark, _ in batch:
                await _apply(conn, mark)
            await self._note_canceled(conn, batch)

    async def _one_by_one(self, batch: list[tuple[Mark, asyncio.Future[None]]]) -> None:
        for i, item in enumerate(batch):
            future = item[1]
            try:
                await self._commit([item])
            except TRANSIENT:
                # The database, not this outcome: this one and the rest go back first in
                # line, in their order, and `_flush` retries them (with its backoff).
                self.pending[:0] = batch[i:]
                return
            except Exception as exc:
                log.exception("recording an email's outcome failed")
                if not future.done():
                    future.set_exception(exc)
                continue
            if not future.done():
                future.set_result(None)

    async def _note_canceled(self, conn: Connection, batch: list[tuple[Mark, Any]]) -> None:
        sources = {
            int(m.row["campaign_id"]): principal_of(m.row) for m, _ in batch if m.row["campaign_id"]
        }
        for campaign_id, principal in sources.items():
            if await campaigns.stopped(conn, principal, campaign_id):
                self.canceled.add(campaign_id)


async def _apply(conn: Connection, mark: Mark) -> None:
    principal = principal_of(mark.row)
    decided = await repository.decide(
        Scoped(conn, principal),
        int(mark.row["id"]),
        mark.status,
        to=mark.to,
        error=mark.error,
    )
    if decided is None:
        return  # decided by another attempt already: nothing twice
    if mark.captured is not None:
        await repository.capture(conn, decided, mark.captured)
    if decided["is_test"]:
        return
    if mark.captured is not None and decided["env"] == "sandbox" and simulator.simulated(mark.to):
        await simulator.queue_report(conn, decided)  # the sandbox's mailbox simulator
    view = email_view(decided)
    if mark.status == "sent":
        await events.record(conn, principal, [("email.sent", view)])
    if mark.report is not None:
        # The relay's refusal is a delivery report like any later one: the same rules.
        report = Report(int(decided["id"]), mark.report, "smtp", mark.status_code, mark.error)
        await reports.apply(conn, report, decided)


class Deferred(TemporaryFailure):
    """Not sent by this run: an earlier outcome's commit failed, or the job's lease is no
    longer certainly this worker's. The message stays queued for the job's next run."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, relay=True)


# How soon a run that stopped for the database comes back (the database answers again by
# the time it is rescheduled: that took a commit).
DEFERRED_RETRY_SECONDS = 1.0


class Refused(TemporaryFailure):
    """The relay refused the sender or the connection: the message stays queued (its
    attempts not counted) while the sending is paused."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, relay=True)


class _Run:
    """One run of an `email.send` job: once it stops sending, it sends nothing more."""

    def __init__(self, job: Job, committer: Committer) -> None:
        self.job = job
        self.committer = committer
        self.stopped: str | None = None
        # Why the relay refused the sender or the connection, once it did.
        self.refused: str | None = None

    def refuse(self, failure: SenderRefused) -> Refused:
        """The relay refuses to send for us: this run sends nothing more."""
        reason = f"the relay refused the sender: {failure}"
        if self.refused is None:
            self.refused = reason
        self.stopped = self.stopped or reason
        return Refused(reason)

    def stop_reason(self) -> str | None:
        """Checked just before each message is handed to the relay: why this run sends
        nothing more, or None while it may send."""
        if self.stopped is None:
            if self.committer.failing:
                self.stopped = "the database did not take an outcome"
            elif not self.job.lease.held():
                self.stopped = "the job's lease is no longer this worker's"
        return self.stopped


class Sender:
    """The email jobs of one worker, with its SMTP connections."""

    def __init__(self, db: Database, settings: Settings, config: EmailConfig) -> None:
        self.db = db
        self.settings = settings
        self.config = config
        self.pool: SmtpPool | None = None
        if settings.smtp_url:
            self.pool = SmtpPool(
                settings.smtp_url,
                connections=settings.smtp_connections,
                timeout=settings.smtp_timeout_seconds,
                rate=settings.smtp_rate,
                redis_url=settings.redis_url,
                prefix=settings.rate_limit_prefix,
            )
        self.committer = Committer(db)
        # Messages being rendered or sent at once (rendering runs ahead of the connections
        # a little, so that a connection never waits for it).
        self.slots = asyncio.Semaphore(settings.smtp_connections * 2)
        self._contents: OrderedDict[tuple[str, int, str, str | None, str | None], Content] = (
            OrderedDict()
        )

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()

    # ---------------------------------------------------------------- campaign.start

    async def start_campaign(self, job: Job, worker_id: str) -> None:
        campaign_id = int(cast(payloads.CampaignStart, job.payload)["campaign"])
        row = await campaigns.of_job(self.db, campaign_id)
        if row is not None and row["status"] == "paused":
            # Dropped only under the campaign's lock: a resumption that saw this job
            # queued (and so queued no other) has it run after all.
            async with self.db.transaction() as conn:
                if not await queue.system_lock_if_leased(conn, job, worker_id):
                    return
                if await campaigns.still_paused(conn, principal_of(row), campaign_id):
                    await queue.system_finish(conn, job, worker_id)
                    return
                await queue.system_retry_at(conn, job, worker_id, 0.0)
            return
        if row is None or row["status"] not in campaigns.UNDER_WAY:
            await self._finish(job, worker_id)
            return
        principal = principal_of(row)
        audience, frozen = audiences.loads(row["audience"])
        try:
            if frozen is None:
                frozen = await audiences.freeze(self.db, principal, audience)
                fixed = audiences.dumps(audience, frozen)
                async with self.db.transaction() as conn:
                    if not await queue.system_lock_if_leased(conn, job, worker_id):
                        return
                    if not await campaigns.fix_audience(conn, principal, campaign_id, fixed):
                        await queue.system_finish(conn, job, worker_id)
                        return
            where = await audiences.walk_condition(self.db, principal, audience, frozen)
        except audiences.AudienceGone as gone:
            async with self.db.transaction() as conn:
                if await queue.system_lock_if_leased(conn, job, worker_id):
                    await campaigns.cancel_unresolvable(conn, principal, campaign_id, str(gone))
                    await queue.system_finish(conn, job, worker_id)
            return
        last = 0
        while True:
            contact_ids = await audiences.page(
                self.db, principal, where, frozen, last, self.settings.email_batch_size
            )
            if not contact_ids:
                break
            last = contact_ids[-1]
            if not await self._record_recipients(job, worker_id, principal, contact_ids):
                return
            # SQLite's calls run on the event loop: let other work in between batches.
            await asyncio.sleep(0)
        async with self.db.transaction() as conn:
            if not await queue.system_lock_if_leased(conn, job, worker_id):
                return
            await campaigns.resolved(conn, principal, campaign_id)
            await queue.system_finish(conn, job, worker_id)
            await campaigns.complete(conn, principal, campaign_id)

    async def _record_recipients(
        self, job: Job, worker_id: str, principal: Principal, contact_ids: list[int]
    ) -> bool:
        """One batch of the audience; False when the job should stop (canceled, taken)."""
        campaign_id = int(cast(payloads.CampaignStart, job.payload)["campaign"])
        async with self.db.transaction() as conn:
            if not await queue.system_lock_if_leased(conn, job, worker_id):
                return False
            if not await campaigns.begin(conn, principal, campaign_id):
                await queue.system_finish(conn, job, worker_id)
                return False
            await service.add_recipients(conn, principal, campaign_id, contact_ids)
        return True

    # ---------------------------------------------------------------- email.send

    async def send(self, job: Job, worker_id: str) -> None:
        payload = cast(payloads.EmailSend, job.payload)
        rows = await repository.system_queued(self.db, payload["ids"])
        campaign_id = payload.get("campaign")
        automation_id = payload.get("automation")
        test = bool(payload.get("test"))
        if not rows:
            # Nothing of the job is left to send: its campaign may be complete.
            campaign = None
            if campaign_id is not None and not test:
                campaign = await campaigns.of_job(self.db, int(campaign_id))
            await self._finish(job, worker_id, campaign)
            return
        # The job's messages are all of one source, in one account and environment.
        principal = principal_of(rows[0])
        kind: Source
        if campaign_id is not None:
            kind, source_id = "campaign", int(campaign_id)
            source = await campaigns.find(self.db, principal, source_id)
        else:
            # A send without a campaign is an automation's: `queue_send` names one of them.
            kind, source_id = "automation", int(cast(int, payload["automation"]))
            source = await automations.find(self.db, principal, source_id)
        if source is None:
            await self._finish(job, worker_id)
            return
        if campaign_id is not None and not test and source["status"] in ("canceled", "paused"):
            # Paused (the relay refused the sender): its messages stay queued, for a
            # resumption to queue again. Checked again under the campaign's lock: resumed
            # meanwhile, this job sends them after all (the resumption left them to it).
            async with self.db.transaction() as conn:
                if not await queue.system_lock_if_leased(conn, job, worker_id):
                    return
                if await campaigns.still_paused(conn, principal, source_id):
                    await queue.system_finish(conn, job, worker_id)
                    return
                await queue.system_retry_at(conn, job, worker_id, 0.0)
            return
        paused = automation_id is not None and source["status"] == "paused"
        if paused and await self._wait_while_paused(job, worker_id, principal, source_id, rows):
            return
        # The campaign to complete once this job is done (not for test copies).
        campaign = source if campaign_id is not None and not test else None
        try:
            content = await self._content(principal, kind, source)
        except Exception as exc:  # a template saved before today's checks
            log.warning("email content of %s %s does not render: %s", kind, source_id, exc)
            await asyncio.gather(
                *(self.committer.submit(Mark(r, "failed", None, f"template: {exc}")) for r in rows)
            )
            await self._finish(job, worker_id, campaign)
            return
        capture = self.config.captures(rows[0]["env"])
        run = _Run(job, self.committer)
        # The account's custom fields, read once per job: `{{ contact.fields.<key> }}`.
        defs = await definitions(self.db, principal)
        outcomes = await asyncio.gather(
            *(self._one(row, content, capture, run, defs) for row in rows),
            return_exceptions=True,
        )
        later: list[tuple[Row, TemporaryFailure]] = []
        for row, outcome in zip(rows, outcomes, strict=True):
            if isinstance(outcome, TemporaryFailure):
                later.append((row, outcome))
            elif isinstance(outcome, BaseException):
                # The commit failed for a reason other than the database's availability
                # (those are retried until they commit): the message is still queued; it
                # is tried again (perhaps sent twice, as after a crash).
                later.append((row, TemporaryFailure(f"{type(outcome).__name__}", relay=True)))
        await self._settle(job, worker_id, later, campaign, run.refused)

    async def _one(
        self, row: Row, content: Content, capture: bool, run: _Run, defs: dict[str, FieldDef]
    ) -> TemporaryFailure | None:
        test = bool(row["is_test"])
        campaign_id = row["campaign_id"]
        if campaign_id is not None and not test and int(campaign_id) in self.committer.canceled:
            return None  # canceled while this job ran: it stays queued, never sent
        if run.stopped is not None:
            return Deferred(run.stopped)
        if not test and (row["contact_id"] is None or row["contact_status"] != "active"):
            await self.committer.submit(Mark(row, "skipped", None, "the contact is not active"))
            return None
        to = row["to_email"] if test else row["contact_email"]
        contact = {
            "email": row["contact_email"] or "",
            "firstName": row["first_name"] or "",
            "lastName": row["last_name"] or "",
            "phone": row["phone"] or "",
            "fields": values.shown(row["contact_fields"], defs),
        }
        async with self.slots:
            composer = partial(
                compose,
                content,
                message_id=int(row["id"]),
                env=row["env"],
                to=to,
                contact=contact,
                signer=self.config.links(),
                test=test,
                relays=self.config.relays,
                verp=self.config.verp,
            )
            try:
                composed = await asyncio.to_thread(composer) if content.off_loop else composer()
            except Unsendable as exc:  # this recipient's message alone
                await self.committer.submit(Mark(row, "failed", to, str(exc)))
                return None
            if capture or self.pool is None:
                await self.committer.submit(Mark(row, "sent", to, captured=composed))
                return None
            async with self.pool.lease() as smtp:
                # Checked once a connection is ours (waiting for one may have taken long).
                if (stopped := run.stop_reason()) is not None:
                    return Deferred(stopped)
                try:
                    await smtp.send(self._mail_from(content, row), to, composed.raw)
                except SenderRefused as failure:
                    return run.refuse(failure)
                except PermanentFailure as failure:
                    code = status_code(str(failure))
                    kind = "hard" if failure.bounce else reports.kind_of(code, permanent=True)
                    await self.committer.submit(
                        Mark(row, "failed", to, str(failure), report=kind, status_code=code)
                    )
                    return None
                except TemporaryFailure as failure:
                    return failure
                # Committed before this connection takes another message (retried until
                # it is: the relay has it).
                await self.committer.submit(Mark(row, "sent", to))
        return None

    def _mail_from(self, content: Content, row: Row) -> str:
        """The envelope sender: the message's signed return path on the bounce domain
        (where its bounces come back), else the From address."""
        if self.config.verp is None:
            return content.from_email
        return self.config.verp.return_path(int(row["id"]), str(row["env"]))

    async def _settle(
        self,
        job: Job,
        worker_id: str,
        later: list[tuple[Row, TemporaryFailure]],
        campaign: Row | None,
        refused: str | None = None,
    ) -> None:
        settings = self.settings
        async with self.db.transaction() as conn:
            if not await queue.system_lock_if_leased(conn, job, worker_id):
                return
            if not later:
                await queue.system_finish(conn, job, worker_id)
                await _complete(conn, campaign)
                return
            scope = Scoped(conn, principal_of(later[0][0]))
            if refused is not None and campaign is not None:
                # The relay refuses the sender: nothing is anyone's fault but the
                # configuration's. The messages stay queued (attempts not counted) and the
                # campaign is paused with the reason; its other jobs stop when they run.
                ids = [int(r["id"]) for r, _ in later]
                await repository.postpone(scope, ids, refused, counts=False)
                await campaigns.pause(conn, principal_of(campaign), int(campaign["id"]), refused)
                await queue.system_finish(conn, job, worker_id)
                return
            relay = [int(r["id"]) for r, f in later if f.relay]
            await repository.postpone(scope, relay, str(later[0][1]), counts=False)
            retrying = bool(relay)
            for row, failure in later:
                if failure.relay:
                    continue
                if int(row["attempts"]) + 1 >= settings.email_max_attempts:
                    reason = f"gave up after {row['attempts'] + 1} attempts: {failure}"
                    mark = Mark(row, "failed", None, reason)
                    if str(failure)[:1] == "4":
                        # The relay's 4xx for this recipient, given up: one soft bounce.
                        mark.error = f"soft bounce: {reason}"
                        mark.report = "soft"
                        mark.status_code = status_code(str(failure))
                    await _apply(conn, mark)
                else:
                    await repository.postpone(scope, [int(row["id"])], str(failure), counts=True)
                    retrying = True
            if retrying:
                exponent = min(job.attempts - 1, 6)
                delay = min(600.0, settings.email_retry_seconds * 2**exponent)
                if all(isinstance(f, Deferred) for _, f in later):
                    delay = min(delay, DEFERRED_RETRY_SECONDS)
                await queue.system_retry_at(conn, job, worker_id, delay)
            else:
                await queue.system_finish(conn, job, worker_id)
                await _complete(conn, campaign)

    async def _wait_while_paused(
        self, job: Job, worker_id: str, principal: Principal, automation_id: int, rows: list[Row]
    ) -> bool:
        """An automation paused when its emails came due: they wait until it is resumed,
        which queues them again. False if it was resumed meanwhile."""
        async with self.db.transaction() as conn:
            if not await queue.system_lock_if_leased(conn, job, worker_id):
                return True
            ids = [int(r["id"]) for r in rows]
            if not await automations.set_aside_while_paused(conn, principal, automation_id, ids):
                return False
            await queue.system_finish(conn, job, worker_id)
        return True

    async def _content(self, principal: Principal, kind: Source, source: Row) -> Content:
        # The From domain's verified sending domain and the account's default postal
        # address (the footer's when the brand has none), read per job: a domain verified
        # (or deleted) or an address changed during a send shows in the next job's mail.
        domain = await sending_domains.signing_row(self.db, principal, source["from_email"])
        signing = f"{domain['id']}@{domain['updated_at']}" if domain is not None else None
        default = await service.default_postal_address(self.db, principal)
        key = (kind, int(source["id"]), str(source["updated_at"]), signing, default)
        content = self._contents.get(key)
        if content is None:
            brand = await service.brand_of(self.db, principal, source["brand_id"])
            content = await asyncio.to_thread(
                partial(
                    prepare_content,
                    account_id=principal.account_id,
                    kind=kind,
                    default_address=default,
                ),
                source,
                brand,
            )
            if domain is not None:
                # Decrypted and loaded once per content, kept with it.
                dkim_key = await asyncio.to_thread(
                    sending_domains.signing_key, domain, self.config.secrets()
                )
                content = replace(content, dkim=dkim_key)
            self._contents[key] = content
            while len(self._contents) > 32:
                self._contents.popitem(last=False)
        return content

    async def _finish(self, job: Job, worker_id: str, campaign: Row | None = None) -> None:
        async with self.db.transaction() as conn:
            if await queue.system_lock_if_leased(conn, job, worker_id):
                await queue.system_finish(conn, job, worker_id)
                await _complete(conn, campaign)


async def _complete(conn: Connection, campaign: Row | None) -> None:
    """The campaign of a finished job (none for test copies and automations) may be
    complete now."""
    if campaign is not None:
        await campaigns.complete(conn, principal_of(campaign), int(campaign["id"]))


async def prune_captured(db: Database, days: float) -> int:
    return await repository.system_prune_captured(db, after(-days * 86400))
