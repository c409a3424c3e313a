"""A real SMTP server (aiosmtpd) on loopback, for the email tests and bench/send.py: it
keeps what it receives, and can refuse (5xx) or defer (4xx) chosen recipients."""

from __future__ import annotations

import email
import email.policy
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class Inbox:
    """The aiosmtpd handler: what arrived, and what to refuse or defer."""

    received: list[tuple[list[str], bytes]] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)  # address -> "550 ..." reply
    defer: dict[str, int] = field(default_factory=dict)  # address -> 451s left to answer
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        with self.lock:
            if self.defer.get(address, 0) > 0:
                self.defer[address] -= 1
                return "451 4.7.1 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.received.append((list(envelope.rcpt_tos), bytes(envelope.content)))
        return "250 Message accepted"

    def count(self) -> int:
        with self.lock:
            return len(self.received)

    def messages(self) -> list[EmailMessage]:
        with self.lock:
            raw = [content for _, content in self.received]
        return [email.message_from_bytes(content, policy=email.policy.default) for content in raw]

    def recipients(self) -> list[str]:
        with self.lock:
            return [to for rcpts, _ in self.received for to in rcpts]


@contextmanager
def smtp_server(port: int = 0, inbox: Inbox | None = None) -> Iterator[tuple[Inbox, int]]:
    """An SMTP server on 127.0.0.1 (in a thread of its own); yields its inbox and port."""
    inbox = inbox or Inbox()
    if port == 0:
        from servers import free_port

        port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()
