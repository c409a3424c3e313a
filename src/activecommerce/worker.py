"""Wires the background worker: the job kinds and their handlers."""

from __future__ import annotations

from activecommerce.config import Settings
from activecommerce.jobs.retention import prune_events
from activecommerce.jobs.worker import Worker
from activecommerce.kit.db import Database
from activecommerce.webhooks.delivery import Deliverer
from activecommerce.webhooks.service import DELIVER, WebhookConfig


class AppWorker(Worker):
    def __init__(self, db: Database, settings: Settings, webhooks: WebhookConfig) -> None:
        self.deliverer = Deliverer(db, settings, webhooks)
        retention = settings.event_retention_days

        async def prune() -> None:
            await prune_events(db, retention)

        super().__init__(
            db,
            {DELIVER: self.deliverer},
            concurrency=settings.worker_concurrency,
            lease_seconds=settings.job_lease_seconds,
            poll_interval=settings.job_poll_interval,
            lane_concurrency=settings.worker_lane_concurrency,
            account_concurrency=settings.worker_account_concurrency,
            periodic=[(settings.event_prune_interval_seconds, prune)],
        )

    async def close(self) -> None:
        await self.deliverer.close()


def build_worker(db: Database, settings: Settings, webhooks: WebhookConfig) -> AppWorker:
    return AppWorker(db, settings, webhooks)
