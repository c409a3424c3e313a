"""The DNS records a sending domain publishes, and how what DNS answers is judged.

- DKIM: TXT at `<selector>._domainkey.<domain>`, `v=DKIM1; k=rsa; p=<public key>`.
  Found when a TXT record there has our `p=`; wrong when one there has another (or none).
- SPF: TXT at the domain, `v=spf1 include:<spf host> ~all`. Found when its SPF record
  (`v=spf1 ...`) includes our host; wrong when it has an SPF record without it.
- DMARC: TXT at `_dmarc.<domain>`, `v=DMARC1; p=none; adkim=r; aspf=r`. Found when a DMARC
  record (`v=DMARC1` with a `p=` policy, whatever policy) is there; wrong when a TXT record
  there is not one.
- Return path (only with a bounce domain): CNAME `bounces.<domain>` to the bounce domain.
  Found when it points there; wrong when it points elsewhere.

Anything else is missing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from activecommerce.kit.services import Settings

RecordType = Literal["TXT", "CNAME"]
State = Literal["found", "missing", "wrong"]
Kind = Literal["dkim", "spf", "dmarc", "return_path"]

RETURN_PATH_LABEL = "bounces"
DMARC_VALUE = "v=DMARC1; p=none; adkim=r; aspf=r"


@dataclass(frozen=True)
class Expected:
    """One record to publish: its kind (how DNS answers are judged), type, name, value."""

    kind: Kind
    type: RecordType
    name: str
    value: str


def spf_host(settings: Settings) -> str:
    """The host SPF records include: the setting, else `_spf.` and the public URL's host."""
    if settings.spf_include:
        return settings.spf_include.strip().rstrip(".").lower()
    host = urlsplit(settings.links_base).hostname or "localhost"
    return f"_spf.{host}"


def expected_records(
    domain: str, selector: str, public_key: str, settings: Settings
) -> list[Expected]:
    records = [
        Expected(
            "dkim",
            "TXT",
            f"{selector}._domainkey.{domain}",
            f"v=DKIM1; k=rsa; p={public_key}",
        ),
        Expected("spf", "TXT", domain, f"v=spf1 include:{spf_host(settings)} ~all"),
        Expected("dmarc", "TXT", f"_dmarc.{domain}", DMARC_VALUE),
    ]
    if settings.bounce_domain:
        bounce = settings.bounce_domain.strip().rstrip(".").lower()
        records.append(Expected("return_path", "CNAME", f"{RETURN_PATH_LABEL}.{domain}", bounce))
    return records


def _tags(text: str) -> dict[str, str]:
    """A tag list (`k=v; k=v`, RFC 6376 §3.2), keys lower-cased, whitespace dropped."""
    tags: dict[str, str] = {}
    for part in text.split(";"):
        key, sep, value = part.partition("=")
        if sep:
            tags[key.strip().lower()] = re.sub(r"\s+", "", value)
    return tags


def judge(expected: Expected, answers: list[str]) -> State:
    """The state of a record from what DNS answered at its name: TXT strings (each
    record's strings joined) or CNAME targets; an empty list when there is none."""
    if not answers:
        return "missing"
    if expected.kind == "dkim":
        ours = _tags(expected.value)["p"]
        return "found" if any(_tags(a).get("p") == ours for a in answers) else "wrong"
    if expected.kind == "spf":
        spf = [a for a in answers if a.strip().lower().startswith("v=spf1")]
        if not spf:
            return "missing"
        wanted = "include:" + expected.value.split("include:", 1)[1].split()[0].lower()
        found = any(wanted in a.lower().split() for a in spf)
        return "found" if found else "wrong"
    if expected.kind == "dmarc":
        dmarc = [_tags(a) for a in answers if a.strip().lower().startswith("v=dmarc1")]
        return "found" if any("p" in tags for tags in dmarc) else "wrong"
    targets = {a.rstrip(".").lower() for a in answers}
    return "found" if expected.value in targets else "wrong"
