"""`activecommerce inbound`: the SMTP server bounces and complaints come back to.

A relay or an MX forwards here the mail addressed to the bounce domain. Each message is
taken in two steps, so that nothing unsigned is ever read:

1. RCPT: only a signed address of the bounce domain (verp.py) is accepted; any other is
   refused there and then (550), before a byte of content is read. A forged report never
   gets as far as the parser.
2. DATA: the message is read (dsn.py: RFC 3464 delivery status, RFC 5965 abuse report)
   and what it says is applied to the message the address names (`receive`), never to a
   Message-ID it quotes. The answer (250) comes once that is committed; when the database
   cannot take it now the answer is 451, so the relay keeps the report and tries again.
   Mail that is no report (an auto-reply) is accepted and dropped. Mail to a `u-`
   address (List-Unsubscribe's `mailto:`) unsubscribes the message's contact.

`Intake.deliver` (an envelope recipient and the message's bytes) is what both the SMTP
server and the sandbox's mailbox simulator call: the simulator's reports take the same
path as real ones.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Literal

from aiosmtpd.smtp import SMTP, Envelope, Session

from activecommerce.email import service as email_service
from activecommerce.kit.db import ConcurrentChange, Database, DatabaseUnavailable

from . import dsn
from .service import Report, receive
from .verp import Address, Verp

log = logging.getLogger("activecommerce.inbound")

# SMTP SIZE. aiosmtpd holds a message in memory (many times its size when its lines are
# short) before the handler sees it: with MAX_SESSIONS, what bounds the server's memory.
# A report quotes our message, which is tens of KB.
MAX_MESSAGE_BYTES = 1024 * 1024
MAX_RECIPIENTS = 10
# SMTP sessions at once; more are answered 421 (a relay tries again later).
MAX_SESSIONS = 32
# Messages larger than this are parsed in a thread (the parser holds the loop ~1 ms per
# 100 KB).
PARSE_INLINE_BYTES = 64 * 1024

# The database could not take the report now: the sender tries again.
TRANSIENT = (DatabaseUnavailable, ConcurrentChange, OSError, TimeoutError)

Outcome = Literal["applied", "unchanged", "ignored", "unsubscribed"]


class Intake:
    """Reports arriving for the return paths of one bounce domain."""

    def __init__(
        self, db: Database, verp: Verp, *, concurrency: int = 32, timeout: float = 30.0
    ) -> None:
        self.db = db
        self.verp = verp
        self.slots = asyncio.Semaphore(concurrency)
        self.timeout = timeout

    def recipient(self, address: str) -> Address | None:
        """The message a recipient address names, if its signature verifies."""
        return self.verp.parse(address)

    async def deliver(self, address: str, raw: bytes) -> Outcome | None:
        """Apply the mail `raw` sent to `address`; None when the address is not a valid
        return path (nothing read). Database errors propagate: the sender tries again."""
        found = self.recipient(address)
        if found is None:
            return None
        return await self.take(found, raw)

    async def take(self, address: Address, raw: bytes) -> Outcome:
        if address.purpose == "u":
            # Any mail to the unsubscribe address unsubscribes (RFC 2369 asks for no more).
            await email_service.unsubscribe(self.db, address.message_id)
            return "unsubscribed"
        finding = await _read(raw)
        if finding is None:
            return "ignored"
        report = Report(
            address.message_id,
            finding.kind,
            finding.source,
            finding.status_code,
            finding.reason,
            env=address.env,
        )
        return "applied" if await receive(self.db, report) else "unchanged"


async def _read(raw: bytes) -> dsn.Finding | None:
    try:
        if len(raw) > PARSE_INLINE_BYTES:
            return await asyncio.to_thread(dsn.read, raw)
        return dsn.read(raw)
    except Exception as exc:  # malformed beyond what the parser forgives: no report
        log.info("inbound mail not readable as a report (%s)", type(exc).__name__)
        return None


class Handler:
    """aiosmtpd's handler: RCPT checks the return path, DATA applies the report."""

    def __init__(self, intake: Intake) -> None:
        self.intake = intake

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if self.intake.recipient(address) is None:
            # The address is someone's guess, not a secret: its domain is enough to log.
            domain = address.rpartition("@")[2][:100]
            log.info("refused a recipient at %r: not a valid return path", domain)
            return "550 5.1.1 No such recipient here"
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        if isinstance(envelope.content, bytes) and not raw:
            raw = envelope.content
        try:
            async with self.intake.slots, asyncio.timeout(self.intake.timeout):
                # Each return path once, however often it was given.
                for rcpt in dict.fromkeys(r.lower() for r in envelope.rcpt_tos):
                    await self.intake.deliver(rcpt, raw)
        except TRANSIENT as exc:
            # The database (down, locked, too slow): the relay keeps the report and tries
            # again later; what was applied already is not applied twice.
            log.warning("could not record an inbound report (%s); answered 451", type(exc).__name__)
            return "451 4.3.0 Cannot record the report now; try again later"
        except Exception:
            # A bug: 451 too (the report is kept by the relay, not lost), and the trace.
            log.exception("recording an inbound report failed; answered 451")
            return "451 4.3.0 Cannot record the report now; try again later"
        return "250 2.0.0 OK"


class _Sessions:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0


class _Session(SMTP):
    """An SMTP session that counts itself among the open ones until it closes."""

    def __init__(self, sessions: _Sessions, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sessions = sessions

    def connection_lost(self, exc: Exception | None) -> None:
        self._sessions.open -= 1
        super().connection_lost(exc)


class _Busy(asyncio.Protocol):
    """Over MAX_SESSIONS: 421 and the connection closed (RFC 5321 §3.8)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(b"421 4.3.2 Too many connections; try again later\r\n")
        transport.close()


async def start(
    intake: Intake, host: str, port: int, *, idle_timeout: float = 60.0
) -> asyncio.Server:
    """Listen on host:port (on the running loop, with the database's)."""
    handler = Handler(intake)
    loop = asyncio.get_running_loop()
    # aiosmtpd logs every command at INFO: a line per command and report is noise (and
    # measured: 5% of the server's time). What matters is logged here.
    logging.getLogger("mail.log").setLevel(logging.WARNING)

    sessions = _Sessions(MAX_SESSIONS)

    def factory() -> Any:
        if sessions.open >= sessions.limit:
            return _Busy()
        sessions.open += 1
        return _Session(
            sessions,
            handler,
            data_size_limit=MAX_MESSAGE_BYTES,
            enable_SMTPUTF8=True,
            timeout=idle_timeout,
            hostname="activecommerce-inbound",
            # No AUTH: the server takes mail for its own signed addresses only.
            auth_exclude_mechanism=["LOGIN", "PLAIN"],
        )

    return await loop.create_server(factory, host=host, port=port)
