"""DNS lookups of a sending domain's records: dnspython's asyncio resolver, through the
nameservers of `ACTIVECOMMERCE_DNS_SERVERS` (the system's when empty), each lookup
bounded by `ACTIVECOMMERCE_DNS_TIMEOUT_SECONDS`.

A name that does not exist (NXDOMAIN) or has no record of the type asked is an empty
answer (the record is missing). A lookup that gets no answer (a timeout) or a failure
(SERVFAIL, REFUSED) is a `LookupFailed`: nothing is said about that record.
"""

from __future__ import annotations

import asyncio

import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.resolver

from activecommerce.kit.services import Settings


class LookupFailed(Exception):
    """DNS did not answer a lookup (timeout) or answered with a failure."""


def nameservers(setting: str) -> list[dns.nameserver.Nameserver]:
    """`host[:port]` entries, comma-separated (an IPv6 address in brackets with a port:
    `[::1]:5353`)."""
    servers: list[dns.nameserver.Nameserver] = []
    for entry in (part.strip() for part in setting.split(",")):
        if not entry:
            continue
        host, port = entry, 53
        if entry.startswith("["):
            host, _, rest = entry[1:].partition("]")
            if rest.startswith(":"):
                port = int(rest[1:])
        elif entry.count(":") == 1:
            host, _, port_text = entry.partition(":")
            port = int(port_text)
        servers.append(dns.nameserver.Do53Nameserver(host, port))
    return servers


def resolver(settings: Settings) -> dns.asyncresolver.Resolver:
    """A resolver made from the settings as they are now (one per verification)."""
    servers = nameservers(settings.dns_servers)
    made = dns.asyncresolver.Resolver(configure=not servers)
    if servers:
        made.nameservers = servers
    made.timeout = settings.dns_timeout_seconds
    made.lifetime = settings.dns_timeout_seconds
    made.cache = None
    return made


async def answers(made: dns.asyncresolver.Resolver, name: str, rdtype: str) -> list[str]:
    """The TXT strings (each record's strings joined) or CNAME targets at `name`."""
    try:
        # A margin over the resolver's own lifetime: cancelled, the query is dropped.
        async with asyncio.timeout(made.lifetime + 1.0):
            answer = await made.resolve(name, rdtype, search=False, raise_on_no_answer=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except (dns.exception.Timeout, TimeoutError):
        raise LookupFailed(f"{name} {rdtype}: the DNS server did not answer in time") from None
    except dns.resolver.NoNameservers:
        raise LookupFailed(f"{name} {rdtype}: the DNS server answered with a failure") from None
    except dns.exception.DNSException as exc:
        raise LookupFailed(f"{name} {rdtype}: {type(exc).__name__}") from None
    if answer.rrset is None:
        return []
    if rdtype == "TXT":
        return [b"".join(rdata.strings).decode("utf-8", "replace") for rdata in answer.rrset]
    return [rdata.target.to_text() for rdata in answer.rrset]
