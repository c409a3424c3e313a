"""A real DNS server on 127.0.0.1 (UDP, a port of its own, a thread of its own) that
answers from a dict of records, for the sending domains' tests and docs."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset


class Zone:
    """What the server answers: `records[(name, type)]` is a list of values (a TXT value
    is one string, split into 255-octet strings on the wire; a CNAME's, its target);
    names in `servfail` answer SERVFAIL."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], list[str]] = {}
        self.servfail: set[str] = set()
        self.lock = threading.Lock()
        self.queries = 0

    def set(self, name: str, rdtype: str, *values: str) -> None:
        with self.lock:
            key = (name.lower().rstrip("."), rdtype)
            if values:
                self.records[key] = list(values)
            else:
                self.records.pop(key, None)

    def answer(self, query: dns.message.Message) -> dns.message.Message:
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        question = query.question[0]
        name = question.name.to_text().lower().rstrip(".")
        rdtype = dns.rdatatype.to_text(question.rdtype)
        with self.lock:
            self.queries += 1
            if name in self.servfail:
                response.set_rcode(dns.rcode.SERVFAIL)
                return response
            values = self.records.get((name, rdtype), [])
            exists = any(key[0] == name for key in self.records)
        if not values:
            if not exists:
                response.set_rcode(dns.rcode.NXDOMAIN)
            return response
        texts = []
        for value in values:
            if rdtype == "TXT":
                chunks = [value[i : i + 255] for i in range(0, len(value), 255)] or [""]
                texts.append(" ".join(f'"{chunk}"' for chunk in chunks))
            else:
                texts.append(value if value.endswith(".") else value + ".")
        response.answer.append(
            dns.rrset.from_text_list(question.name, 300, dns.rdataclass.IN, rdtype, texts)
        )
        return response


@contextmanager
def dns_server(zone: Zone | None = None, *, silent: bool = False) -> Iterator[tuple[Zone, str]]:
    """A nameserver answering from `zone` (or, `silent`, reading queries and never
    answering); yields the zone and its "127.0.0.1:port"."""
    zone = zone or Zone()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                packet, peer = sock.recvfrom(4096)
            except OSError:  # the timeout: look at `stop` again
                continue
            if silent:
                continue
            try:
                query = dns.message.from_wire(packet)
            except dns.exception.DNSException:
                continue
            sock.sendto(zone.answer(query).to_wire(), peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield zone, f"127.0.0.1:{sock.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        sock.close()
