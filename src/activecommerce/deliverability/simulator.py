"""The sandbox's mailbox simulator: mail captured for an address at
`simulator.activecommerce.test` comes back as the report a real mailbox would cause.

- `bounce@` → a delivery status notification (RFC 3464) saying 5.1.1, the mailbox does
  not exist: a hard bounce;
- `softbounce@` → a DSN saying 5.2.2, the mailbox is full: a soft bounce;
- `complaint@` → an abuse report (ARF, RFC 5965): a complaint;
- `success@` → a DSN saying the message was delivered (2.0.0).

The report is a real message, addressed to the message's signed return path, and goes
through what `activecommerce inbound` does with mail it receives (`Intake.deliver`):
the same checks, the same parser, the same rules. It is made by a job (`email.simulate`)
queued in the transaction that records the message as sent, so that it is not lost
when the process stops in between.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import cast

from activecommerce.email.compose import message_id_header
from activecommerce.email.config import EmailConfig
from activecommerce.email.service import system_message
from activecommerce.jobs import payloads, queue
from activecommerce.jobs.queue import Job
from activecommerce.kit.db import Connection, Database, Row

from .inbound import Intake

log = logging.getLogger("activecommerce.inbound")

DOMAIN = "simulator.activecommerce.test"
SIMULATE = "email.simulate"
MAILBOXES = frozenset({"bounce", "softbounce", "complaint", "success"})
REPORTING_MTA = "mx.simulator.activecommerce.test"


def simulated(address: str | None) -> bool:
    """Whether mail to the address is answered by the simulator."""
    if not address:
        return False
    local, _, domain = address.lower().rpartition("@")
    return domain == DOMAIN and local in MAILBOXES


async def queue_report(conn: Connection, message: Row) -> None:
    """Queue the simulated report of a sandbox message just captured (the caller's
    transaction)."""
    payload: payloads.EmailSimulate = {"message": int(message["id"])}
    await queue.enqueue(conn, SIMULATE, payload, account_id=int(message["account_id"]))


class Simulator:
    """The `email.simulate` job."""

    def __init__(self, db: Database, config: EmailConfig) -> None:
        self.db = db
        self.config = config

    async def __call__(self, job: Job, worker_id: str) -> None:
        message_id = int(cast(payloads.EmailSimulate, job.payload)["message"])
        row = await system_message(self.db, message_id)
        verp = self.config.simulation
        if row is not None and verp is not None and simulated(row["to_email"]):
            env = str(row["env"])
            return_path = verp.return_path(message_id, env)
            raw = report_for(
                str(row["to_email"]),
                return_path,
                message_id_header(message_id, env, self.config.links().base),
            )
            # Database errors propagate: the worker runs the job again (reports count once).
            await Intake(self.db, verp).deliver(return_path, raw)
        async with self.db.transaction() as conn:
            if await queue.system_lock_if_leased(conn, job, worker_id):
                await queue.system_finish(conn, job, worker_id)


def report_for(to: str, return_path: str, original_id: str) -> bytes:
    """The report a real mailbox at the simulator's address would cause, as bytes."""
    mailbox = to.lower().rpartition("@")[0]
    if mailbox == "complaint":
        return _arf(to, return_path, original_id)
    if mailbox == "success":
        return _dsn(to, return_path, original_id, "delivered", "2.0.0", "250 2.0.0 Ok: queued")
    if mailbox == "softbounce":
        diagnostic = "552 5.2.2 <{to}>: Mailbox full"
        return _dsn(to, return_path, original_id, "failed", "5.2.2", diagnostic.format(to=to))
    diagnostic = "550 5.1.1 <{to}>: Recipient address rejected: User unknown"
    return _dsn(to, return_path, original_id, "failed", "5.1.1", diagnostic.format(to=to))


def _head(return_path: str, subject: str, report_type: str, boundary: str) -> str:
    return (
        f"From: MAILER-DAEMON@{REPORTING_MTA} (Mail Delivery System)\r\n"
        f"To: {return_path}\r\n"
        f"Subject: {subject}\r\n"
        f"Date: {format_datetime(datetime.now(UTC))}\r\n"
        "MIME-Version: 1.0\r\n"
        f"Content-Type: multipart/report; report-type={report_type};\r\n"
        f'\tboundary="{boundary}"\r\n\r\n'
    )


def _dsn(
    to: str, return_path: str, original_id: str, action: str, status: str, diagnostic: str
) -> bytes:
    """An RFC 3464 delivery status notification, as Postfix writes them."""
    boundary = "simulated-dsn"
    subject = (
        "Successful Mail Delivery Report"
        if action == "delivered"
        else "Undelivered Mail Returned to Sender"
    )
    text = (
        "This is the mail system at host "
        + REPORTING_MTA
        + ".\r\n\r\n"
        + (
            "Your message was successfully delivered to the destination(s) listed below.\r\n"
            if action == "delivered"
            else "I'm sorry to have to inform you that your message could not\r\n"
            "be delivered to one or more recipients.\r\n"
        )
    )
    return (
        _head(return_path, subject, "delivery-status", boundary) + f"--{boundary}\r\n"
        "Content-Description: Notification\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
        f"{text}\r\n"
        f"--{boundary}\r\n"
        "Content-Description: Delivery report\r\n"
        "Content-Type: message/delivery-status\r\n\r\n"
        f"Reporting-MTA: dns; {REPORTING_MTA}\r\n"
        f"Arrival-Date: {format_datetime(datetime.now(UTC))}\r\n\r\n"
        f"Final-Recipient: rfc822; {to}\r\n"
        f"Original-Recipient: rfc822;{to}\r\n"
        f"Action: {action}\r\n"
        f"Status: {status}\r\n"
        f"Remote-MTA: dns; {REPORTING_MTA}\r\n"
        f"Diagnostic-Code: smtp; {diagnostic}\r\n\r\n"
        f"--{boundary}\r\n"
        "Content-Description: Undelivered Message Headers\r\n"
        "Content-Type: text/rfc822-headers\r\n\r\n"
        f"Return-Path: <{return_path}>\r\n"
        f"Message-ID: {original_id}\r\n"
        f"To: {to}\r\n\r\n"
        f"--{boundary}--\r\n"
    ).encode()


def _arf(to: str, return_path: str, original_id: str) -> bytes:
    """An RFC 5965 abuse report, as a mailbox provider's feedback loop sends them."""
    boundary = "simulated-arf"
    return (
        _head(return_path, "Abuse report", "feedback-report", boundary) + f"--{boundary}\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
        "This is an email abuse report for an email message received from you.\r\n\r\n"
        f"--{boundary}\r\n"
        "Content-Type: message/feedback-report\r\n\r\n"
        "Feedback-Type: abuse\r\n"
        "User-Agent: ActiveCommerce-Simulator/1.0\r\n"
        "Version: 1\r\n"
        f"Original-Mail-From: <{return_path}>\r\n"
        f"Original-Rcpt-To: <{to}>\r\n"
        f"Reported-Domain: {DOMAIN}\r\n\r\n"
        f"--{boundary}\r\n"
        "Content-Type: text/rfc822-headers\r\n\r\n"
        f"Return-Path: <{return_path}>\r\n"
        f"Message-ID: {original_id}\r\n"
        f"To: {to}\r\n\r\n"
        f"--{boundary}--\r\n"
    ).encode()
