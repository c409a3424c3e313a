"""Builds the background work: the job kinds and their handlers (the process wired by
`activecommerce.wiring.wire`); and settles a process's heap once it is set up."""

from __future__ import annotations

import gc

from activecommerce.config import Settings
from activecommerce.consent import keys as consent_keys
from activecommerce.consent import service as consent
from activecommerce.contacts import selection
from activecommerce.deliverability.simulator import SIMULATE, Simulator
from activecommerce.email import service as email_service
from activecommerce.email.config import EmailConfig
from activecommerce.email.sender import Sender, prune_captured
from activecommerce.forms import service as forms
from activecommerce.forms.mail import ConfirmationMailer
from activecommerce.imports import service as imports
from activecommerce.jobs.retention import system_prune_events
from activecommerce.jobs.worker import Worker
from activecommerce.kit.db import Database
from activecommerce.privacy import service as privacy
from activecommerce.webhooks.delivery import Deliverer
from activecommerce.webhooks.service import DELIVER, WebhookConfig
from activecommerce.wiring import wire


def configure(
    settings: Settings, server_secret: bytes, webhooks: WebhookConfig, email: EmailConfig
) -> None:
    """Complete what needs the server secret."""
    consent_keys.configure(server_secret)
    webhooks.configure(settings, server_secret)
    email.configure(settings, server_secret)


class AppWorker(Worker):
    def __init__(
        self, db: Database, settings: Settings, webhooks: WebhookConfig, email: EmailConfig
    ) -> None:
        self.deliverer = Deliverer(db, settings, webhooks)
        self.sender = Sender(db, settings, email)

        backfilled = False

        async def prune() -> None:
            nonlocal backfilled
            if not backfilled:  # contacts stopped before the suppression list existed
                await consent.system_backfill(db)
                backfilled = True
            await system_prune_events(db, settings.event_retention_days)
            await prune_captured(db, settings.capture_retention_days)
            await forms.prune_unconfirmed(db, settings.unconfirmed_retention_days)

        async def sweep_uploads() -> None:
            await imports.sweep(db)

        super().__init__(
            db,
            {
                DELIVER: self.deliverer,
                email_service.START: self.sender.start_campaign,
                email_service.SEND: self.sender.send,
                SIMULATE: Simulator(db, email),
                forms.MAIL: ConfirmationMailer(db, settings, email, self.sender),
                imports.RUN: imports.ImportRunner(db, settings.import_batch_size),
                selection.RUN: selection.BulkRunner(db),
                privacy.ERASE: privacy.ErasureRunner(db),
            },
            concurrency=settings.worker_concurrency,
            lease_seconds=settings.job_lease_seconds,
            poll_interval=settings.job_poll_interval,
            lane_concurrency=settings.worker_lane_concurrency,
            account_concurrency=settings.worker_account_concurrency,
            periodic=[
                (settings.event_prune_interval_seconds, prune),
                (settings.event_prune_interval_seconds, sweep_uploads),
            ],
        )

    async def close(self) -> None:
        await self.deliverer.close()
        await self.sender.close()


def build_worker(
    db: Database, settings: Settings, webhooks: WebhookConfig, email: EmailConfig
) -> AppWorker:
    """The worker of a wired process (the `worker` command's, or the one embedded in the
    server)."""
    wire()
    return AppWorker(db, settings, webhooks, email)


def settle_heap() -> None:
    """Keep what start-up made (modules, the app, the schema and the migrations' objects:
    ~130,000 objects) out of the cyclic garbage collector's full collections, which
    otherwise walk all of it on the event loop every so often: measured during a contact
    import, pauses of 100-340 ms, and 20-70 ms after this. Called by `serve` and `worker`
    once they are built, before they serve."""
    gc.collect()
    gc.freeze()
