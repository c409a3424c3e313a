"""One recipient's email, whole: rendered parts, footer, tracking and headers.

CPU-bound (templates, MIME): the sender calls `compose` off the event loop.
"""

from __future__ import annotations

import binascii
import email.policy
import html as html_lib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from email.header import Header
from email.utils import format_datetime, formataddr, quote
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Template

from activecommerce.deliverability.verp import Verp
from activecommerce.email.dkim import DkimKey, sign
from activecommerce.email.links import LinkSigner, track
from activecommerce.email.templates import compile_template


@dataclass(frozen=True)
class Content:
    """A campaign's or automation's message, its templates compiled once per send."""

    subject: Template
    html: Template | None
    text: Template | None
    from_email: str
    from_name: str | None
    reply_to: str | None
    postal_address: str | None
    # Large templates render for longer than the event loop may be held (~1 ms): the
    # sender renders those in a thread, the usual few-KB ones inline (~0.1 ms each).
    heavy: bool = False
    # Deliverability headers (SPEC §14): what List-Id and Feedback-ID are made of.
    account_id: int | None = None
    source: str | None = None  # "c<campaign id>" or "a<automation id>"
    brand_id: int | None = None
    brand_name: str | None = None
    # Precedence: bulk (campaigns and automations): auto-responders do not answer it
    # (RFC 3834), and with List-Id and List-Unsubscribe it marks the mail as a list's.
    bulk: bool = False
    # SPEC §14: the open pixel and the click redirect, each unless turned off.
    track_opens: bool = True
    track_clicks: bool = True
    # The key of the From address's verified sending domain: each message is signed.
    dkim: DkimKey | None = None

    @property
    def off_loop(self) -> bool:
        """Whether a message is composed in a thread: a heavy template, or a signature
        (an RSA-2048 signature takes ~0.3-1 ms of CPU)."""
        return self.heavy or self.dkim is not None


HEAVY_TEMPLATE_BYTES = 32 * 1024


def prepare_content(
    row: Any,
    brand: Any | None,
    *,
    account_id: int | None = None,
    kind: str | None = None,
    default_address: str | None = None,
) -> Content:
    """The content of a campaign or automation row (and its brand's row, if any), with
    its templates compiled. CPU-bound for large templates: call it off the event loop.
    `kind` ("campaign" or "automation") and `account_id` give its List-Id, Feedback-ID
    and Precedence headers. The footer's postal address is the brand's, else
    `default_address` (the account's)."""
    html = row["html_content"] or None
    text = row["plaintext_content"] or None
    if text is None and html is not None:
        # The text part derived once from the HTML template (its placeholders are text to
        # the HTML parser, so they stay), not from each recipient's HTML: a parse per
        # message cost 80% of composing it.
        text = text_of(html)
    return Content(
        subject=compile_template(row["subject"], html=False),
        html=compile_template(html, html=True) if html else None,
        text=compile_template(text, html=False) if text else None,
        from_email=row["from_email"],
        from_name=row["from_name"] or (brand["from_name"] if brand is not None else None),
        reply_to=row["reply_to_email"],
        postal_address=_postal_address(brand, default_address),
        heavy=len(row["subject"]) + len(html or "") + len(text or "") > HEAVY_TEMPLATE_BYTES,
        account_id=account_id,
        source=_source(row, kind),
        brand_id=int(brand["id"]) if brand is not None else None,
        brand_name=brand["name"] if brand is not None else None,
        bulk=kind is not None,
        track_opens=_flag(row, "track_opens"),
        track_clicks=_flag(row, "track_clicks"),
    )


def _source(row: Any, kind: str | None) -> str | None:
    """Feedback-ID's campaign or automation ("c12", "a3"); None for content not saved yet
    (a preview of a new campaign)."""
    try:
        source_id = row["id"]
    except (KeyError, IndexError):
        return None
    return None if kind is None or source_id is None else f"{kind[0]}{source_id}"


def _postal_address(brand: Any | None, default: str | None) -> str | None:
    own = brand["postal_address"] if brand is not None else None
    if own and own.strip():
        return str(own).strip()
    return default.strip() if default and default.strip() else None


def _flag(row: Any, name: str) -> bool:
    """A tracking flag of the row; on when the row has none (a preview's form values)."""
    try:
        value = row[name]
    except (KeyError, IndexError):
        return True
    return True if value is None else bool(value)


@dataclass(frozen=True)
class Composed:
    to: str
    from_header: str
    subject: str
    html: str | None
    text: str
    headers: dict[str, str]
    raw: bytes


_SPACES = re.compile(r"\s+")


class _TextOf(HTMLParser):
    """The text part derived from an HTML body: text, line breaks, links as "text (url)"."""

    BREAKS = frozenset({"br", "p", "div", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.href: list[str | None] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "script", "head", "title"):
            self.hidden += 1
        elif tag == "a":
            self.href.append(dict(attrs).get("href"))
        elif tag in self.BREAKS:
            self.out.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script", "head", "title"):
            self.hidden = max(0, self.hidden - 1)
        elif tag == "a" and self.href:
            href = self.href.pop()
            if href and href.startswith(("http://", "https://")):
                self.out.append(f" ({href})")
        elif tag in ("p", "div", "tr", "h1", "h2", "h3", "h4", "h5", "h6"):
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.out.append(_SPACES.sub(" ", data))


def text_of(body: str) -> str:
    parser = _TextOf()
    parser.feed(body)
    parser.close()
    lines = [line.strip() for line in "".join(parser.out).splitlines()]
    text = "\n".join(lines)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.strip()


def _footer_html(postal: str | None, unsubscribe: str) -> str:
    address = f"{html_lib.escape(postal)}<br>" if postal else ""
    return (
        '<div style="margin-top:24px;font-size:12px;color:#666">'
        f'{address}<a href="{html_lib.escape(unsubscribe)}">Unsubscribe</a></div>'
    )


_HTML_TAG = re.compile(r"<html[\s>]", re.IGNORECASE)


def _document(body: str, subject: str) -> str:
    """An HTML body given as a fragment (`<p>Hi</p>`), made a whole document: its
    charset, a viewport for phones and the subject as its title, as mail clients and
    filters expect (a bare fragment with an image reads as an image-only email)."""
    if _HTML_TAG.search(body):
        return body
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html_lib.escape(subject)}</title></head><body>{body}</body></html>"
    )


def _with_footer(body: str, footer: str) -> str:
    closing = body.lower().rfind("</body>")
    if closing == -1:
        return body + footer
    return body[:closing] + footer + body[closing:]


def message_host(public_url: str) -> str:
    """The host part of our Message-IDs: the public URL's."""
    return urlsplit(public_url).hostname or "activecommerce.local"


def message_id_header(message_id: int, env: str, public_url: str) -> str:
    """The Message-ID of one recipient's email: derived from its durable record, so every
    attempt (after a crash, a retry) carries the same one."""
    return f"<{message_id}.{env}@{message_host(public_url)}>"


# The key under which a sending service echoes the message's Message-ID (without its
# angle brackets) in its delivery reports: Postmark's metadata, SendGrid's unique
# arguments. Added only for the services whose webhooks are configured.
RELAY_TAG = "ac_message"


def relay_headers(message_id: str, relays: frozenset[str]) -> dict[str, str]:
    reference = message_id.strip("<>")
    headers = {}
    if "postmark" in relays:
        headers[f"X-PM-Metadata-{RELAY_TAG}"] = reference
    if "sendgrid" in relays:
        headers["X-SMTPAPI"] = f'{{"unique_args": {{"{RELAY_TAG}": "{reference}"}}}}'
    return headers


def _one_line(text: str) -> str:
    """Header text on one line: CR, LF and runs of whitespace become one space, so that
    no value can start a header of its own."""
    return " ".join(text.split())


# RFC 5322 §2.1.1: a line is at most 998 octets (78 recommended); RFC 6531: an address
# with a non-ASCII local part is written as UTF-8 (sent with SMTPUTF8).
MAX_LINE = 998
_ADDRESS_HEADERS = frozenset({"From", "To", "Reply-To"})


class Unsendable(ValueError):
    """This recipient's message cannot be written as the RFCs require (its rendered
    subject is too long): it fails for this recipient alone."""


def _header(name: str, value: str) -> bytes:
    if value.isascii():
        line = len(name) + len(value) + 2
        # The usual case, without the cost below: a short line, or one token that no
        # folding could break (a link: List-Unsubscribe, Message-ID) within the limit.
        if line <= 78 or (line <= MAX_LINE and not any(c in value for c in " \t")):
            return f"{name}: {value}\r\n".encode()
    if name in _ADDRESS_HEADERS and not value.isascii():
        # An address header: the display name is already an encoded word (formataddr),
        # so what is not ASCII is the address itself.
        return str(email.policy.SMTPUTF8.fold(name, value)).encode()
    # Folded (and encoded where not ASCII) by the standard library: ~0.05 ms for a
    # line over 78 characters, a few ms only for a subject of thousands.
    return str(email.policy.SMTP.fold(name, value)).encode()


def list_id(content: Content, host: str) -> str | None:
    """RFC 2919: one list per brand (`"Brand" <b12.7.host>`), else per account."""
    if content.account_id is None:
        return None
    if content.brand_id is None:
        return f"<a{content.account_id}.{host}>"
    name = _one_line(content.brand_name or "")
    if not name:
        phrase = ""
    elif name.isascii():
        phrase = f'"{quote(name)}" '
    else:
        phrase = Header(name, "utf-8").encode() + " "
    return f"{phrase}<b{content.brand_id}.{content.account_id}.{host}>"


def list_unsubscribe(url: str, message_id: int, env: str, verp: Verp | None) -> str:
    """RFC 2369: the https link (RFC 8058's one-click POST goes there), and with a bounce
    domain a `mailto:` first, for the clients that only mail."""
    if verp is None:
        return f"<{url}>"
    mailto = f"mailto:{verp.unsubscribe_address(message_id, env)}?subject=unsubscribe"
    return f"<{mailto}>, <{url}>"


FEEDBACK_SENDER = "activecommerce"


def feedback_id(content: Content) -> str | None:
    """Gmail's Feedback-ID: campaign or automation, account, sender."""
    if content.account_id is None or content.source is None:
        return None
    return f"{content.source}:{content.account_id}:{FEEDBACK_SENDER}"


def _qp(text: str) -> bytes:
    """A body part as quoted-printable with CRLF line ends (C-fast: binascii)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n")
    return binascii.b2a_qp(lines.encode(), istext=True).replace(b"\n", b"\r\n")


def _part(subtype: str, body: str) -> bytes:
    return (
        f"Content-Type: text/{subtype}; charset=utf-8\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    ).encode() + _qp(body)


def template_fields(contact: dict[str, Any]) -> dict[str, Any]:
    """The contact as its templates see it: a field without a value (None, empty or only
    spaces) is left out, so that it is undefined and `default('there')` takes its place
    (Jinja's `default` fires only on undefined), while `{{ contact.firstName }}` alone
    still prints nothing."""
    shown = _with_values(contact)
    # Custom fields (`{{ contact.fields.<key> }}`) the same way; always an object, so
    # that a key without a value is undefined (prints nothing) rather than an error. A
    # multiselect's options print joined by ", ".
    custom = {
        key: ", ".join(map(str, value)) if isinstance(value, list) else value
        for key, value in (contact.get("fields") or {}).items()
    }
    shown["fields"] = _with_values(custom)
    return shown


def _with_values(values: dict[str, Any]) -> dict[str, Any]:
    return {
        name: value
        for name, value in values.items()
        if value is not None and not (isinstance(value, str) and not value.strip())
    }


def compose(
    content: Content,
    *,
    message_id: int,
    env: str,
    to: str,
    contact: dict[str, Any],
    signer: LinkSigner,
    test: bool = False,
    tracked: bool = True,
    relays: frozenset[str] = frozenset(),
    verp: Verp | None = None,
) -> Composed:
    """The message, as the bytes to send and as parts to capture.

    Built by hand rather than with `email.message.EmailMessage`: the standard library's
    policy machinery costs ~2 ms of CPU per message (measured by bench/send.py: 73% of a
    send's time), this ~0.1 ms; the tests parse the result with the standard library's
    parser to hold it to the RFCs. `tracked=False` (the console's preview): no open pixel
    and links left as written, so that showing it records nothing. `verp` (a bounce
    domain is configured): List-Unsubscribe also offers a signed `mailto:` on it."""
    unsubscribe = signer.unsubscribe_url(message_id)
    context = {"contact": template_fields(contact), "unsubscribe_url": unsubscribe}
    subject = _one_line(content.subject.render(context))
    if test:
        subject = f"[Test] {subject}"
    if len(subject) > MAX_LINE:
        raise Unsendable(f"the subject renders to {len(subject)} characters (at most {MAX_LINE})")
    body = content.html.render(context) if content.html is not None else None
    text = content.text.render(context) if content.text is not None else ""
    postal = content.postal_address
    text = text.rstrip() + "\n\n--\n" + (f"{postal}\n" if postal else "")
    text += f"Unsubscribe: {unsubscribe}\n"
    if body is not None:
        body = _with_footer(_document(body, subject), _footer_html(postal, unsubscribe))
        if tracked:
            body = track(
                body,
                signer,
                message_id,
                skip=unsubscribe,
                opens=content.track_opens,
                clicks=content.track_clicks,
            )

    name = _one_line(content.from_name or "")
    from_header = (
        formataddr((name, content.from_email), charset="utf-8") if name else content.from_email
    )
    headers = {"From": from_header, "To": to}
    if content.reply_to:
        headers["Reply-To"] = content.reply_to
    headers |= {
        "Subject": subject,
        "Date": format_datetime(datetime.now(UTC)),
        "Message-ID": message_id_header(message_id, env, signer.base),
        "List-Unsubscribe": list_unsubscribe(unsubscribe, message_id, env, verp),
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    host = urlsplit(signer.base).hostname or "activecommerce.local"
    if (value := list_id(content, host)) is not None:
        headers["List-Id"] = value
    if (value := feedback_id(content)) is not None:
        headers["Feedback-ID"] = value
    if content.bulk:
        headers["Precedence"] = "bulk"
    if relays:
        headers |= relay_headers(headers["Message-ID"], relays)
    headers["MIME-Version"] = "1.0"
    raw = b"".join(_header(key, value) for key, value in headers.items())
    if body is None:
        raw += _part("plain", text)
    else:
        boundary = f"=_ac_{message_id}_{secrets.token_hex(8)}"
        raw += f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'.encode()
        for part in (_part("plain", text), _part("html", body)):
            raw += f"--{boundary}\r\n".encode() + part + b"\r\n"
        raw += f"--{boundary}--\r\n".encode()
    if content.dkim is not None:
        # The signature goes first; what is captured is what goes on the wire.
        raw = sign(raw, content.dkim)
    return Composed(
        to=to,
        from_header=from_header,
        subject=subject,
        html=body,
        text=text,
        headers={k: v for k, v in headers.items() if k != "MIME-Version"},
        raw=raw,
    )
