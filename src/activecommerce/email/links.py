"""Signed links in emails: open pixel, click redirect, unsubscribe.

A link names the message (its id) and carries an HMAC of what it does with it, keyed by a
key derived from the server secret. A forged or altered link (another message, another
URL) fails the check and is a 404: the redirect can only ever go to a URL that was in the
email that was sent. Links use ACTIVECOMMERCE_PUBLIC_URL.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import re
from urllib.parse import quote

from activecommerce.kit.fields import ascii_digits

_SIG_BYTES = 16  # 128-bit tags: unforgeable, and short enough for a URL


class LinkSigner:
    def __init__(self, server_secret: bytes, public_url: str) -> None:
        self._key = hmac.new(server_secret, b"activecommerce email links v1", "sha256").digest()
        self.base = public_url.rstrip("/")

    def _sign(self, purpose: str, message_id: int, extra: str = "") -> str:
        text = f"{purpose}:{message_id}:{extra}".encode()
        digest = hmac.new(self._key, text, hashlib.sha256).digest()[:_SIG_BYTES]
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def _check(self, purpose: str, message_id: str, sig: str, extra: str = "") -> int | None:
        if not ascii_digits(message_id) or len(message_id) > 19:
            return None
        expected = self._sign(purpose, int(message_id), extra)
        return int(message_id) if hmac.compare_digest(expected, sig) else None

    def open_url(self, message_id: int) -> str:
        return f"{self.base}/e/o/{message_id}/{self._sign('o', message_id)}"

    def click_url(self, message_id: int, url: str) -> str:
        target = quote(url, safe="")
        return f"{self.base}/e/c/{message_id}/{self._sign('c', message_id, url)}?u={target}"

    def unsubscribe_url(self, message_id: int) -> str:
        return f"{self.base}/e/u/{message_id}/{self._sign('u', message_id)}"

    def confirm_url(self, submission_id: int) -> str:
        """A signup form's confirmation link (the submission it confirms)."""
        return f"{self.base}/f/confirm/{submission_id}/{self._sign('confirm', submission_id)}"

    def confirming(self, submission_id: str, sig: str) -> int | None:
        return self._check("confirm", submission_id, sig)

    def opened(self, message_id: str, sig: str) -> int | None:
        return self._check("o", message_id, sig)

    def clicked(self, message_id: str, sig: str, url: str) -> int | None:
        return self._check("c", message_id, sig, url)

    def unsubscribing(self, message_id: str, sig: str) -> int | None:
        return self._check("u", message_id, sig)


# An <a> tag's href to an http(s) URL, in either kind of quotes.
_HREF = re.compile(
    r"""(<a\b[^>]*?\bhref\s*=\s*)(["'])(https?://[^"'<>]*)\2""", re.IGNORECASE | re.DOTALL
)


# An ordinary 1x1 image (SPEC §14): not hidden with CSS, which some filters hold against
# a message and some clients skip loading.
_PIXEL_REST = ' width="1" height="1" alt="">'


def without_open_pixel(body: str, signer: LinkSigner) -> str:
    """A sent message's HTML without the open pixel `track` added: for showing it (the
    Sandbox inbox) without recording an open or fetching from outside the page."""
    start = '<img src="' + re.escape(html.escape(signer.base)) + r'/e/o/[^"<>]*"'
    # Mail captured before the pixel was an ordinary image has it hidden with CSS.
    rest = re.escape(_PIXEL_REST[:-1]) + '(?: style="display:none")?>'
    pixel = re.compile(start + rest)
    return pixel.sub("", body)


def track(
    body: str,
    signer: LinkSigner,
    message_id: int,
    skip: str = "",
    *,
    opens: bool = True,
    clicks: bool = True,
) -> str:
    """The HTML with each http(s) link sent through the click redirect (to the URL a
    browser would have opened: the attribute's entities decoded) and an open pixel at the
    end of the body. The unsubscribe link (`skip`) stays direct. `opens=False`: no pixel;
    `clicks=False`: every link stays direct (the campaign's or automation's flags)."""

    def rewrite(match: re.Match[str]) -> str:
        url = html.unescape(match.group(3))
        if skip and url == skip:
            return match.group(0)
        tracked = html.escape(signer.click_url(message_id, url), quote=True)
        return f"{match.group(1)}{match.group(2)}{tracked}{match.group(2)}"

    if clicks:
        body = _HREF.sub(rewrite, body)
    if not opens:
        return body
    pixel = f'<img src="{html.escape(signer.open_url(message_id))}"{_PIXEL_REST}'

    closing = body.lower().rfind("</body>")
    if closing == -1:
        return body + pixel
    return body[:closing] + pixel + body[closing:]
