"""One recipient's email, whole: rendered parts, footer, tracking and headers (SPEC §5).

CPU-bound (templates, MIME): the sender calls `compose` off the event loop.
"""

from __future__ import annotations

import html as html_lib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Template

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


def prepare_content(row: Any, brand: Any | None) -> Content:
    """The content of a campaign or automation row (and its brand's row, if any), with
    its templates compiled. CPU-bound for large templates: call it off the event loop."""
    html = row["html_content"] or None
    text = row["plaintext_content"] or None
    return Content(
        subject=compile_template(row["subject"], html=False),
        html=compile_template(html, html=True) if html else None,
        text=compile_template(text, html=False) if text else None,
        from_email=row["from_email"],
        from_name=row["from_name"] or (brand["from_name"] if brand is not None else None),
        reply_to=row["reply_to_email"],
        postal_address=brand["postal_address"] if brand is not None else None,
    )


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


def _with_footer(body: str, footer: str) -> str:
    closing = body.lower().rfind("</body>")
    if closing == -1:
        return body + footer
    return body[:closing] + footer + body[closing:]


def message_id_header(message_id: int, env: str, public_url: str) -> str:
    """The Message-ID of one recipient's email: derived from its durable record, so every
    attempt (after a crash, a retry) carries the same one."""
    host = urlsplit(public_url).hostname or "activecommerce.local"
    return f"<{message_id}.{env}@{host}>"


def compose(
    content: Content,
    *,
    message_id: int,
    env: str,
    to: str,
    contact: dict[str, Any],
    signer: LinkSigner,
    test: bool = False,
) -> Composed:
    unsubscribe = signer.unsubscribe_url(message_id)
    context = {"contact": contact, "unsubscribe_url": unsubscribe}
    subject = " ".join(content.subject.render(context).split())  # one line, always
    if test:
        subject = f"[Test] {subject}"
    body = content.html.render(context) if content.html is not None else None
    if content.text is not None:
        text = content.text.render(context)
    elif body is not None:
        text = text_of(body)
    else:
        text = ""
    postal = content.postal_address
    text = text.rstrip() + "\n\n--\n" + (f"{postal}\n" if postal else "")
    text += f"Unsubscribe: {unsubscribe}\n"
    if body is not None:
        body = _with_footer(body, _footer_html(postal, unsubscribe))
        body = track(body, signer, message_id, skip=unsubscribe)

    msg = EmailMessage(policy=SMTP)
    msg["From"] = Address(display_name=content.from_name or "", addr_spec=content.from_email)
    msg["To"] = to
    if content.reply_to:
        msg["Reply-To"] = content.reply_to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = message_id_header(message_id, env, signer.base)
    msg["List-Unsubscribe"] = f"<{unsubscribe}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(text)
    if body is not None:
        msg.add_alternative(body, subtype="html")
    headers = {name: str(value) for name, value in msg.items() if name != "Content-Type"}
    return Composed(
        to=to,
        from_header=str(msg["From"]),
        subject=subject,
        html=body,
        text=text,
        headers=headers,
        raw=msg.as_bytes(),
    )
