"""Where a webhook may be sent: public addresses only, unless configuration says so.

The address is resolved and checked, and the delivery then connects to that very
address (the Host header and TLS server name keep the original host), so a DNS answer
that changes between the check and the connection cannot redirect a delivery.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiodns
import aiodns.error

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeAddress(Exception):
    pass


@dataclass(frozen=True)
class Policy:
    allow_loopback: bool = False
    allow_private: bool = False
    # The process's resolver (its timeout and nameservers); None: the system's, 2 s.
    resolver: Resolver | None = None


def refusal(ip: IPAddress, policy: Policy) -> str | None:
    """Why a delivery to `ip` is refused, or None when it may go there."""
    if isinstance(ip, ipaddress.IPv6Address):
        # IPv4 carried inside IPv6 (mapped, 6to4, Teredo) is judged as the IPv4 it carries.
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            return refusal(embedded, policy)
        if ip.is_site_local:
            return None if policy.allow_private else "a private (site-local) address"
    if ip.is_loopback:
        return None if policy.allow_loopback else "a loopback address"
    if ip.is_link_local:
        return "a link-local or cloud-metadata address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_unspecified or ip.is_reserved:
        return "a reserved address"
    if not ip.is_global:
        return None if policy.allow_private else "a private address"
    return None


class Resolver:
    """Names are resolved with c-ares (aiodns): asynchronous and cancellable, with its own
    timeout, so that names whose DNS never answers hold no thread and cannot starve other
    lookups (the loop's getaddrinfo runs in the default thread pool, where an abandoned
    lookup keeps its thread). /etc/hosts is honoured; IP literals are never resolved."""

    def __init__(self) -> None:
        self.timeout = 2.0
        self.servers: list[str] = []  # empty: the system's (resolv.conf)
        self._resolver: aiodns.DNSResolver | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def configure(self, timeout: float, servers: list[str]) -> None:
        self.timeout = timeout
        self.servers = servers
        self._resolver = None  # made again, with these settings, on next use

    def _current(self) -> aiodns.DNSResolver:
        loop = asyncio.get_running_loop()
        if self._resolver is None or self._loop is not loop:
            self._resolver = aiodns.DNSResolver(
                nameservers=self.servers or None, loop=loop, timeout=self.timeout, tries=1
            )
            self._loop = loop
        return self._resolver

    async def addresses(self, host: str, port: int) -> list[IPAddress]:
        try:
            # The name on the wire: IDNA, labels of 1..63 characters (a bad name is never
            # sent to the resolver and never raises anything but UnsafeAddress).
            ascii_host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise UnsafeAddress(f"{host!r} is not a valid host name") from None
        # A margin over c-ares's own timeout; cancelling drops the query's callback.
        async with asyncio.timeout(self.timeout + 1.0):
            result = await self._current().getaddrinfo(
                ascii_host, port=port, type=socket.SOCK_STREAM
            )
        found = [_address(node.addr[0]) for node in result.nodes]
        if not found:
            raise OSError(f"no address for {host}")
        # IPv4 first: many servers have no working IPv6 route.
        return sorted(found, key=lambda ip: ip.version)


def _address(value: bytes | str) -> IPAddress:
    text = value.decode() if isinstance(value, bytes) else value
    return ipaddress.ip_address(text.split("%", 1)[0])


_SYSTEM = Resolver()


async def resolve(host: str, port: int, resolver: Resolver | None = None) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    return await (resolver or _SYSTEM).addresses(host, port)


def target(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    # "10.0.0.1." and "localhost." name the same hosts as without the final dot.
    host = (parts.hostname or "").rstrip(".")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, host, port


async def checked_address(url: str, policy: Policy) -> IPAddress:
    """The address to connect to for `url`; UnsafeAddress if any answer is refused."""
    _scheme, host, port = target(url)
    try:
        addresses = await resolve(host, port, policy.resolver)
    except TimeoutError:
        raise UnsafeAddress(f"{host} does not resolve (DNS timed out)") from None
    except (OSError, aiodns.error.DNSError) as exc:
        raise UnsafeAddress(f"{host} does not resolve ({_dns_reason(exc)})") from None
    for ip in addresses:
        reason = refusal(ip, policy)
        if reason:
            # Never the address a name resolves to: that would map a private network.
            raise UnsafeAddress(
                f"{host} is {reason}" if _is_literal(host) else f"{host} resolves to {reason}"
            )
    return addresses[0]


def _is_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _dns_reason(exc: Exception) -> str:
    if isinstance(exc, aiodns.error.DNSError) and len(exc.args) >= 2:
        if exc.args[0] == aiodns.error.ARES_ETIMEOUT:
            return "DNS timed out"
        return str(exc.args[1])
    return str(exc)


async def creation_refusal(url: str, policy: Policy) -> str | None:
    """At creation, refuse what resolves to a refused address. A host that does not
    resolve yet is accepted; it is checked again at every delivery."""
    try:
        await checked_address(url, policy)
    except UnsafeAddress as exc:
        if "does not resolve" in str(exc):
            return None
        return str(exc)
    return None
