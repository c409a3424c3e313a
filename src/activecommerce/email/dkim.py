"""DKIM signatures (RFC 6376) of outgoing mail: rsa-sha256, relaxed/relaxed.

The canonicalisation is our own (RFC 6376 §3.4.2 and §3.4.4: a few lines each) and the
RSA signature is OpenSSL's, through `cryptography`: ~1 ms of CPU per message for a
2048-bit key, so the sender signs off the event loop. dkimpy, which verifies the
signatures in the tests, signs with pure-Python RSA unless told otherwise (several times
slower): see docs/decisions/015-dkim-signing.md.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

# The headers signed when the message has them, in this order: at least what names the
# message and its sender, how to leave the list, and how to read the body.
SIGNED_HEADERS = (
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "Reply-To",
    "List-Id",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "Feedback-ID",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
)

_WSP_RUN = re.compile(rb"[ \t]+")
# Where one header field ends and the next begins: a CRLF not followed by whitespace (a
# folded field's continuation lines start with some).
_FIELD_END = re.compile(rb"\r\n(?![ \t])")


@dataclass(frozen=True)
class DkimKey:
    """What signs one sending domain's mail: `d=`, `s=` and the loaded private key."""

    domain: str
    selector: str
    private_key: rsa.RSAPrivateKey


def new_key_pair() -> tuple[bytes, str]:
    """A new RSA-2048 key pair: the private key (PKCS#8 DER) and the public key as the
    `p=` of a DKIM record (base64 SubjectPublicKeyInfo). ~50-100 ms of CPU: call it off
    the event loop."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, base64.b64encode(public).decode("ascii")


def load_key(domain: str, selector: str, private_der: bytes) -> DkimKey:
    private_key = serialization.load_der_private_key(private_der, password=None)
    if not isinstance(private_key, rsa.RSAPrivateKey):
        raise ValueError("a DKIM key must be an RSA key")
    return DkimKey(domain=domain, selector=selector, private_key=private_key)


def relaxed_body(body: bytes) -> bytes:
    """RFC 6376 §3.4.4: whitespace runs become one space, none at line ends, no empty
    lines at the end; a non-empty body ends with CRLF."""
    lines = body.split(b"\r\n")
    out = [_WSP_RUN.sub(b" ", line).rstrip(b" ") for line in lines]
    while out and out[-1] == b"":
        out.pop()
    return b"".join(line + b"\r\n" for line in out)


def relaxed_header(name: bytes, value: bytes) -> bytes:
    """RFC 6376 §3.4.2: the name lower-cased, the value unfolded, whitespace runs one
    space, none around the colon or at the end (no CRLF: the caller adds it)."""
    unfolded = value.replace(b"\r\n", b"")
    return name.strip().lower() + b":" + _WSP_RUN.sub(b" ", unfolded).strip(b" ")


def _fields(head: bytes) -> list[tuple[bytes, bytes]]:
    """The header fields of a message head (without its final CRLF): (name, value with
    its folding)."""
    fields = []
    for field in _FIELD_END.split(head):
        name, _, value = field.partition(b":")
        fields.append((name, value))
    return fields


def sign(raw: bytes, key: DkimKey, *, timestamp: int | None = None) -> bytes:
    """The message with its DKIM-Signature header first. `raw` is a message as
    `compose` writes it: CRLF line ends, the head and body parted by an empty line."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        head, body = raw.removesuffix(b"\r\n"), b""
    body_hash = base64.b64encode(hashlib.sha256(relaxed_body(body)).digest()).decode()
    # The last instance of each signed header (RFC 6376 §5.4.2): there is one of each.
    present: dict[bytes, tuple[bytes, bytes]] = {}
    for name, value in _fields(head):
        present[name.strip().lower()] = (name, value)
    signed = [h for h in SIGNED_HEADERS if h.lower().encode() in present]
    stamp = int(time.time()) if timestamp is None else timestamp
    # Folded at tag boundaries (relaxed canonicalisation unfolds it again); the b= value
    # comes last, folded too (its whitespace is ignored by verifiers).
    tags = [
        "v=1; a=rsa-sha256; c=relaxed/relaxed;",
        f"d={key.domain}; s={key.selector}; t={stamp};",
        "h=" + ":".join(h.lower() for h in signed) + ";",
        f"bh={body_hash};",
        "b=",
    ]
    unsigned_value = " " + "\r\n\t".join(tags)
    hashed = b"".join(
        relaxed_header(*present[h.lower().encode()]) + b"\r\n" for h in signed
    ) + relaxed_header(b"DKIM-Signature", unsigned_value.encode())
    signature = key.private_key.sign(hashed, padding.PKCS1v15(), hashes.SHA256())
    b64 = base64.b64encode(signature).decode()
    folded = "\r\n\t ".join(b64[i : i + 72] for i in range(0, len(b64), 72))
    header = f"DKIM-Signature:{unsigned_value}{folded}\r\n".encode()
    return header + raw
