"""The `forms.mail` job: a submission's confirmation email, with its signed link.

It is the one email an `unconfirmed` or suppressed contact may get: it goes to the
address the submission names, whatever the contact's status (the campaign and automation
sender skip every contact that is not `active`, so nothing else reaches them). Captured
like every email in the sandbox (and live without an SMTP relay), else handed to the
relay through the sending worker's connections. A submission confirmed meanwhile gets
no email.
"""

from __future__ import annotations

import asyncio
import logging
from functools import lru_cache, partial
from typing import Any
from urllib.parse import urlsplit

import orjson
from jinja2 import Template

from activecommerce.brands.service import brands
from activecommerce.config import Settings
from activecommerce.email.compose import HEAVY_TEMPLATE_BYTES
from activecommerce.email.config import EmailConfig
from activecommerce.email.sender import Sender
from activecommerce.email.templates import compile_template
from activecommerce.email.transactional import (
    OneOff,
    capture_one_off,
    compose_one_off,
    send_one_off,
)
from activecommerce.email.transport import PermanentFailure, TemporaryFailure
from activecommerce.forms import repository
from activecommerce.jobs import queue
from activecommerce.jobs.queue import Job
from activecommerce.kit.db import Database, Row
from activecommerce.kit.principal import Principal
from activecommerce.kit.problems import Problem

log = logging.getLogger("activecommerce.forms")

DEFAULT_SUBJECT = "Please confirm your subscription"
DEFAULT_HTML = (
    "<p>Hello{% if contact.firstName %} {{ contact.firstName }}{% endif %},</p>"
    "<p>Someone, hopefully you, asked to subscribe this address to {{ brand_name }}."
    " To confirm, open this link:</p>"
    '<p><a href="{{ confirm_url }}">Confirm my subscription</a></p>'
    "<p>If it was not you, ignore this email: nothing more will be sent.</p>"
)
MAX_ATTEMPTS = 8


@lru_cache(maxsize=64)
def _compiled(text: str, html: bool) -> Template:
    """A form's template compiled once, not once per email (compiling costs ~1 ms)."""
    return compile_template(text, html=html)


def render(text: str, context: dict[str, Any], *, html: bool) -> str:
    return _compiled(text, html).render(context)


def render_confirmation(
    mail: dict[str, Any] | None, context: dict[str, Any], confirm_url: str
) -> tuple[str, str]:
    """(subject, HTML) of a confirmation email: the form's templates (the default's when
    it has none), with `{{ confirm_url }}` in place, or the link appended when the
    template does not place it. The answers are escaped (autoescape)."""
    subject = (mail or {}).get("subject") or DEFAULT_SUBJECT
    html = (mail or {}).get("htmlContent") or DEFAULT_HTML
    full = {**context, "confirm_url": confirm_url}
    body = render(html, full, html=True)
    if "confirm_url" not in html:
        link = render(
            '<p><a href="{{ u }}">Confirm my subscription</a></p>', {"u": confirm_url}, html=True
        )
        closing = body.lower().rfind("</body>")
        body = body + link if closing == -1 else body[:closing] + link + body[closing:]
    return render(subject, full, html=False), body


class ConfirmationMailer:
    def __init__(self, db: Database, settings: Settings, config: EmailConfig, sender: Sender):
        self.db = db
        self.settings = settings
        self.config = config
        self.sender = sender

    async def __call__(self, job: Job, worker_id: str) -> None:
        submission_id = int(job.payload["submission"])
        row = await repository.system_submission(self.db, submission_id)
        if row is None or row["status"] != "pending":
            await self._finish(job, worker_id)
            return
        principal = Principal.acting_for(int(row["account_id"]), str(row["env"]))
        mail = orjson.loads(row["confirmation_email"]) if row["confirmation_email"] else None
        brand = await self._brand(principal, mail)
        # Large templates render off the event loop; the usual few-KB ones inline.
        heavy = len(row["confirmation_email"] or "") > HEAVY_TEMPLATE_BYTES
        try:
            if heavy:
                one_off = await asyncio.to_thread(self._compose_parts, row, mail, brand)
            else:
                one_off = self._compose_parts(row, mail, brand)
        except Exception as exc:  # a template saved before today's checks
            log.warning("form %s: confirmation email does not render: %s", row["form_id"], exc)
            await self._finish(job, worker_id)
            return
        compose = partial(
            compose_one_off, one_off, env=str(row["env"]), public_url=self.settings.links_base
        )
        composed = await asyncio.to_thread(compose) if heavy else compose()
        contact_id = None if row["contact_id"] is None else int(row["contact_id"])
        if self.config.captures(str(row["env"])) or self.sender.pool is None:
            async with self.db.transaction() as conn:
                if await queue.system_lock_if_leased(conn, job, worker_id):
                    await capture_one_off(conn, principal, contact_id, composed)
                    await queue.system_finish(conn, job, worker_id)
            return
        try:
            await send_one_off(self.sender.pool, one_off.from_email, composed)
        except PermanentFailure as failure:
            log.info("confirmation email of submission %s refused: %s", submission_id, failure)
        except TemporaryFailure:
            if job.attempts < MAX_ATTEMPTS:
                async with self.db.transaction() as conn:
                    if await queue.system_lock_if_leased(conn, job, worker_id):
                        delay = min(
                            600.0, self.settings.email_retry_seconds * 2 ** (job.attempts - 1)
                        )
                        await queue.system_retry_at(conn, job, worker_id, delay)
                return
        await self._finish(job, worker_id)

    def _compose_parts(self, row: Row, mail: dict[str, Any] | None, brand: Row | None) -> OneOff:
        data = orjson.loads(row["data"])
        contact = {k: v for k, v in data.items() if k not in ("fields",) and v not in (None, "")}
        contact["fields"] = data.get("fields") or {}
        brand_name = str(brand["name"]) if brand is not None else "our list"
        url = self.config.links().confirm_url(int(row["id"]))
        subject, html = render_confirmation(
            mail, {"contact": contact, "brand_name": brand_name}, url
        )
        host = urlsplit(self.settings.links_base).hostname or "localhost"
        if "." not in host:
            host = f"{host}.localdomain"
        from_email = (brand["from_email"] if brand is not None else None) or f"no-reply@{host}"
        from_name = (brand["from_name"] or brand["name"]) if brand is not None else None
        return OneOff(
            from_email=str(from_email),
            from_name=from_name,
            to=str(row["email"]),
            subject=subject,
            html=html,
            reference=f"confirm-{row['id']}",
        )

    async def _brand(self, principal: Principal, mail: dict[str, Any] | None) -> Row | None:
        brand_id = (mail or {}).get("brandId")
        if brand_id is None:
            return None
        try:
            return await brands.get_row(self.db, principal, str(brand_id))
        except Problem:
            return None

    async def _finish(self, job: Job, worker_id: str) -> None:
        async with self.db.transaction() as conn:
            if await queue.system_lock_if_leased(conn, job, worker_id):
                await queue.system_finish(conn, job, worker_id)
