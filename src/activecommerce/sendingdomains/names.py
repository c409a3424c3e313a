"""Domain names as stored: ASCII (IDNA), lower-case, without a final dot."""

from __future__ import annotations

import re

import idna

_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def ascii_domain(value: str) -> str:
    """The domain's ASCII form, or ValueError saying why it is not a domain name."""
    name = value.removesuffix(".")
    if not name or name != name.strip() or any(c.isspace() for c in name):
        raise ValueError("is not a domain name")
    try:
        ascii_name = idna.encode(name, uts46=True).decode("ascii").lower()
    except (idna.IDNAError, UnicodeError, ValueError):
        raise ValueError("is not a valid domain name") from None
    labels = ascii_name.split(".")
    if len(labels) < 2:
        raise ValueError("needs at least two labels (example.com)")
    if len(ascii_name) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise ValueError("is not a valid domain name")
    if labels[-1].isdigit():
        raise ValueError("is an address, not a domain name")
    return ascii_name


def mail_domain(address: str) -> str | None:
    """The ASCII domain of an email address, or None if it has none that is valid."""
    _, at, domain = address.rpartition("@")
    if not at:
        return None
    try:
        return ascii_domain(domain)
    except ValueError:
        return None
