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


def self_signed_context(directory: Any) -> Any:
    """A server TLS context with a fresh self-signed certificate for 127.0.0.1."""
    import datetime
    import ipaddress
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context


@contextmanager
def tls_auth_server(
    directory: Any, user: str, password: str
) -> Iterator[tuple[Inbox, int, list[str]]]:
    """An SMTP server that requires STARTTLS and then AUTH with this user and password;
    yields its inbox, port and the logins it saw (user names)."""
    from aiosmtpd.smtp import AuthResult, LoginPassword
    from servers import free_port

    logins: list[str] = []

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            user.encode(),
            password.encode(),
        )
        if ok:
            logins.append(user)
        return AuthResult(success=ok)

    inbox, port = Inbox(), free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=self_signed_context(directory),
        require_starttls=True,
        auth_required=True,
        authenticator=authenticate,
    )
    controller.start()
    try:
        yield inbox, port, logins
    finally:
        controller.stop()
