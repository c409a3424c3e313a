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

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeAddress(Exception):
    pass


@dataclass(frozen=True)
class Policy:
    allow_loopback: bool = False
    allow_private: bool = False


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


async def resolve(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    infos = await asyncio.wait_for(loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout=5)
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


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
        addresses = await resolve(host, port)
    except (OSError, TimeoutError) as exc:
        raise UnsafeAddress(f"{host} does not resolve ({exc})") from None
    for ip in addresses:
        reason = refusal(ip, policy)
        if reason:
            raise UnsafeAddress(f"{host} resolves to {ip}, {reason}")
    return addresses[0]


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
