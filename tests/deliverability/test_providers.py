"""The sending services' delivery-report webhooks, with real signatures: Amazon SES
through SNS (an RSA key and a self-signed certificate served on loopback, the
certificate URL pattern pointed at it), SendGrid's signed event webhook (an ECDSA P-256
key), Postmark (basic auth). The messages they report on are real: a live campaign sent
through an SMTP sink. Forged, unsigned, stale, wrong-topic and unauthenticated requests
are refused and change nothing; a report delivered twice counts once."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import orjson
import pytest
from conftest import Account, _new_account, fresh_database, running_app
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from fastapi import FastAPI
from helpers import created, give_postal_address, problem, recorded_events, wait_for
from smtp import Inbox, smtp_server

from activecommerce.config import SNS_URL_PATTERN, Settings
from activecommerce.deliverability import providers
from activecommerce.deliverability.signatures import Sns
from activecommerce.email.compose import relay_headers
from activecommerce.email.config import EmailConfig

TOPIC = "arn:aws:sns:eu-west-1:123456789012:ses-reports"
HOST = "mail.shop.io"
POSTMARK = ("postmark", "pm-s3cret-password")


# ------------------------------------------------------------------ Amazon SNS's side


def _certificate(key: rsa.RSAPrivateKey, days: float = 1.0) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


@dataclass
class FakeSns:
    """Amazon SNS's signing key, and its web server on loopback: the certificate at
    /cert.pem and the subscription confirmation URL at /confirm."""

    key: rsa.RSAPrivateKey
    pem: bytes
    port: int = 0
    fetched: list[str] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def sign(self, message: dict[str, Any], version: str = "2") -> dict[str, Any]:
        """The message as SNS sends it: with SignatureVersion, SigningCertURL and the
        signature over its canonical string (written out here, not the code's)."""
        if message["Type"] == "Notification":
            names = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
        else:
            names = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token"]
            names += ["TopicArn", "Type"]
        text = "".join(f"{n}\n{message[n]}\n" for n in names if n in message)
        # SignatureVersion 1 is SHA1withRSA: SNS's, not a choice of ours.
        algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()  # noqa: S303
        signature = self.key.sign(text.encode(), padding.PKCS1v15(), algorithm)
        return {
            "SignatureVersion": version,
            "SigningCertURL": f"{self.base}/cert.pem",
            **message,
            "Signature": base64.b64encode(signature).decode(),
        }

    def notification(self, ses: dict[str, Any], topic: str = TOPIC) -> dict[str, Any]:
        return self.sign(
            {
                "Type": "Notification",
                "MessageId": f"sns-{time.monotonic_ns()}",
                "TopicArn": topic,
                "Message": orjson.dumps(ses).decode(),
                "Timestamp": "2026-05-01T10:00:00.000Z",
            }
        )


@contextmanager
def sns_server(sns: FakeSns) -> Iterator[None]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            sns.fetched.append(self.path)
            found = self.path == "/cert.pem" or self.path.startswith("/confirm?")
            body = sns.pem if self.path == "/cert.pem" else b"<ConfirmSubscriptionResponse/>"
            self.send_response(200 if found else 404)
            self.send_header("content-length", str(len(body) if found else 0))
            self.end_headers()
            if found:
                self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    sns.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


def ses_mail(message_id: str) -> dict[str, Any]:
    return {
        "messageId": "0102018f-ses-own-id",
        "source": "news@shop.io",
        "commonHeaders": {"messageId": message_id, "subject": "Hi"},
    }


def ses_bounce(message_id: str, kind: str, status: str | None, sub: str = "General") -> Any:
    recipient: dict[str, Any] = {"emailAddress": "x@b.io", "action": "failed"}
    if status is not None:
        recipient |= {"status": status, "diagnosticCode": f"smtp; 550 {status} it failed"}
    return {
        "notificationType": "Bounce",
        "bounce": {"bounceType": kind, "bounceSubType": sub, "bouncedRecipients": [recipient]},
        "mail": ses_mail(message_id),
    }


# ------------------------------------------------------------------ the world


@dataclass
class World:
    app: FastAPI
    inbox: Inbox
    sns: FakeSns
    sendgrid: ec.EllipticCurvePrivateKey
    client: httpx.AsyncClient

    async def reports(self, account: Account) -> int:
        row = await self.app.state.services.db.fetchone(
            "SELECT count(*) AS n FROM email_reports WHERE account_id = ?", (int(account.id),)
        )
        assert row is not None
        return int(row["n"])

    async def message(self, account: Account, message_id: str) -> dict[str, Any]:
        number = int(message_id.strip("<>").split(".")[0])
        row = await self.app.state.services.db.fetchone(
            "SELECT status, bounce_kind, delivered_at, complained_at, error"
            " FROM email_messages WHERE id = ? AND account_id = ?",
            (number, int(account.id)),
        )
        assert row is not None
        return dict(row)


@pytest.fixture(scope="module")
async def world(
    tmp_path_factory: pytest.TempPathFactory, settings: Settings
) -> AsyncIterator[World]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    sns = FakeSns(key, _certificate(key))
    sendgrid = ec.generate_private_key(ec.SECP256R1())
    public = sendgrid.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    overrides = {
        "smtp_timeout_seconds": 5.0,
        "public_url": f"https://{HOST}",
        "ses_topic_arns": f"arn:aws:sns:us-east-1:1:other, {TOPIC}",
        "ses_timeout_seconds": 2.0,
        "sendgrid_webhook_public_key": base64.b64encode(public).decode(),
        "postmark_webhook_user": POSTMARK[0],
        "postmark_webhook_password": POSTMARK[1],
        "bounce_domain": "bounces.shop.io",
    }
    with sns_server(sns), smtp_server() as (inbox, port):
        async with (
            fresh_database(tmp_path_factory.mktemp("providers")) as url,
            running_app(
                settings,
                database_url=url,
                smtp_url=f"smtp://127.0.0.1:{port}",
                ses_sns_url_pattern=rf"http://127\.0\.0\.1:{sns.port}/",
                **overrides,
            ) as app,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app, client=("198.51.100.7", 443)),
                base_url="http://t",
            ) as client,
        ):
            yield World(app, inbox, sns, sendgrid, client)


async def _sent(world: World, api: httpx.AsyncClient, people: list[str]) -> dict[str, Any]:
    """A live campaign sent to these addresses (at a fresh account): per address, its
    contact id and the Message-ID its email went out with."""
    group = await created(api, "/v3/contactGroups", {"name": "All"})
    ids = {}
    for address in people:
        contact = await created(api, "/v3/contacts", {"email": address})
        ids[address] = str(contact["id"])
        r = await api.put(f"/v3/contacts/{contact['id']}/groups/{group['id']}")
        assert r.status_code == 204, r.text
    await give_postal_address(api)
    body = {"name": "N", "subject": "Hi", "fromEmail": "news@shop.io", "plaintextContent": "Hi"}
    campaign = await created(api, "/v3/emailCampaigns", body)
    r = await api.post(
        f"/v3/emailCampaigns/{campaign['id']}/send",
        json={"audience": {"groupIds": [group["id"]]}},
    )
    assert r.status_code == 202, r.text

    def arrived() -> bool:
        return set(people) <= set(world.inbox.recipients())

    await wait_for(arrived, timeout=20, what="the campaign's mail")
    headers = {str(m["To"]): m for m in world.inbox.messages()}
    return {a: (ids[a], str(headers[a]["Message-ID"]), headers[a]) for a in people}


async def _status(api: httpx.AsyncClient, contact_id: str) -> str:
    return str((await api.get(f"/v3/contacts/{contact_id}")).json()["status"])


async def _suppressed(api: httpx.AsyncClient, address: str) -> str | None:
    r = await api.get("/v3/suppressions", params={"email": address})
    assert r.status_code == 200, r.text
    found = r.json()["data"]
    return str(found[0]["reason"]) if found else None


def _address(tag: str) -> str:
    return f"{tag}.{time.monotonic_ns()}@b.io"


# ------------------------------------------------------------------ Amazon SES


async def test_ses_reports_through_sns(world: World) -> None:
    account = await _new_account(world.app)
    api = account.live
    hard, soft, complained, delivered, policy = (
        _address(t) for t in ("hard", "soft", "complained", "delivered", "policy")
    )
    sent = await _sent(world, api, [hard, soft, complained, delivered, policy])
    sns, client = world.sns, world.client

    # The subscription is confirmed by fetching its SubscribeURL (Amazon's hosts only).
    confirmation = sns.sign(
        {
            "Type": "SubscriptionConfirmation",
            "MessageId": "c-1",
            "Token": "tok",
            "TopicArn": TOPIC,
            "Message": "You have chosen to subscribe...",
            "SubscribeURL": f"{sns.base}/confirm?Token=tok",
            "Timestamp": "2026-05-01T10:00:00.000Z",
        }
    )
    r = await client.post("/hooks/ses", content=orjson.dumps(confirmation))
    assert r.status_code == 200, r.text
    assert "/confirm?Token=tok" in sns.fetched

    async def post(ses: dict[str, Any], version: str = "2") -> dict[str, Any]:
        message = sns.notification(ses)
        if version == "1":
            message = sns.sign({k: message[k] for k in message if "Sig" not in k}, "1")
        # SNS posts JSON as text/plain.
        r = await client.post(
            "/hooks/ses", content=orjson.dumps(message), headers={"content-type": "text/plain"}
        )
        assert r.status_code == 200, r.text
        return dict(r.json())

    assert await post(ses_bounce(sent[hard][1], "Permanent", "5.1.1")) == {
        "received": 1,
        "applied": 1,
    }
    # SNS delivers at least once: the same report again changes nothing.
    assert (await post(ses_bounce(sent[hard][1], "Permanent", "5.1.1")))["applied"] == 0
    assert (await post(ses_bounce(sent[soft][1], "Transient", None, "MailboxFull")))["applied"] == 1
    assert (await post(ses_bounce(sent[policy][1], "Permanent", "5.7.1"), version="1"))[
        "applied"
    ] == 1
    complaint = {
        "notificationType": "Complaint",
        "complaint": {"complaintFeedbackType": "abuse", "complainedRecipients": []},
        "mail": ses_mail(sent[complained][1]),
    }
    assert (await post(complaint))["applied"] == 1
    delivery = {
        "notificationType": "Delivery",
        "delivery": {"smtpResponse": "250 2.6.0 Message received"},
        "mail": ses_mail(sent[delivered][1]),
    }
    assert (await post(delivery))["applied"] == 1
    assert sns.fetched.count("/cert.pem") == 1  # fetched once, then cached

    assert await _status(api, sent[hard][0]) == "bounced"
    assert await _suppressed(api, hard) == "bounced"
    assert await _status(api, sent[soft][0]) == "active"
    assert await _status(api, sent[policy][0]) == "active"
    assert await _suppressed(api, policy) is None
    assert await _status(api, sent[complained][0]) == "complained"
    assert await _suppressed(api, complained) == "complained"
    assert (await world.message(account, sent[hard][1]))["bounce_kind"] == "hard"
    assert (await world.message(account, sent[soft][1]))["bounce_kind"] == "soft"
    assert (await world.message(account, sent[policy][1]))["bounce_kind"] == "policy"
    assert (await world.message(account, sent[complained][1]))["complained_at"] is not None
    assert (await world.message(account, sent[delivered][1]))["delivered_at"] is not None
    bounced = await recorded_events(world.app, account, "email.bounced")
    assert sorted((e["to"], e["hardBounce"], e["reportedBy"]) for _, e in bounced) == sorted(
        [(hard, True, "ses"), (soft, False, "ses")]
    )
    complaints = await recorded_events(world.app, account, "email.complained")
    assert [e["to"] for _, e in complaints] == [complained]
    await account.close()


async def test_ses_reports_found_by_the_return_path(world: World) -> None:
    """A notification without the original headers names the message by its envelope
    sender (`mail.source`): believed only when it is a return path that verifies."""
    account = await _new_account(world.app)
    api = account.live
    gone, other = _address("gone"), _address("other")
    sent = await _sent(world, api, [gone, other])
    verp = world.app.state.services.part(EmailConfig).verp
    assert verp is not None

    async def post(source: str) -> dict[str, Any]:
        ses = ses_bounce("", "Permanent", "5.1.1")
        ses["mail"] = {"messageId": "0102018f-ses-own-id", "source": source}
        message = world.sns.notification(ses)
        r = await world.client.post("/hooks/ses", content=orjson.dumps(message))
        assert r.status_code == 200, r.text
        return dict(r.json())

    number = int(sent[gone][1].strip("<>").split(".")[0])
    forged = verp.return_path(number, "live").replace("-l-", "-s-")
    assert (await post(forged))["applied"] == 0
    assert (await post("news@shop.io"))["applied"] == 0
    assert (await post(verp.return_path(number, "live")))["applied"] == 1
    assert await _status(api, sent[gone][0]) == "bounced"
    assert await _status(api, sent[other][0]) == "active"
    await account.close()


async def test_forged_ses_reports_change_nothing(world: World) -> None:
    account = await _new_account(world.app)
    address = _address("victim")
    sent = await _sent(world, account.live, [address])
    contact_id, message_id = sent[address][0], sent[address][1]
    sns, client = world.sns, world.client
    report = ses_bounce(message_id, "Permanent", "5.1.1")
    genuine = sns.notification(report)

    async def refused(message: Any, status: int) -> None:
        body = message if isinstance(message, bytes) else orjson.dumps(message)
        problem(await client.post("/hooks/ses", content=body), status)

    # Altered after signing: another message named, or the signature of another message.
    other = ses_bounce(message_id.replace("<", "<1"), "Permanent", "5.1.1")
    await refused({**genuine, "Message": orjson.dumps(other).decode()}, 403)
    await refused({**genuine, "Signature": sns.notification(other)["Signature"]}, 403)
    unsigned = {k: v for k, v in genuine.items() if k != "Signature"}
    await refused(unsigned, 403)
    await refused({**genuine, "Signature": "not base64!"}, 403)
    await refused({**genuine, "SignatureVersion": "3"}, 403)
    # A topic not configured, however well signed.
    await refused(sns.notification(report, topic="arn:aws:sns:eu-west-1:9:theirs"), 403)
    # A certificate from anywhere but Amazon's hosts (here: the pattern) is never fetched.
    fetched = len(sns.fetched)
    evil = "http://127.0.0.2:1/cert.pem"
    await refused({**genuine, "SigningCertURL": evil}, 403)
    await refused({**genuine, "SigningCertURL": f"{sns.base}.evil.test/cert.pem"}, 403)
    # Signed by another key, with its certificate at a URL the pattern allows.
    await refused({**genuine, "SigningCertURL": f"{sns.base}/missing.pem"}, 403)
    assert len(sns.fetched) == fetched + 1  # only the allowed URL was tried
    await refused(b"{not json", 400)
    await refused(b"[1, 2]", 400)
    await refused({"Type": "Nonsense"}, 400)
    assert await _status(account.live, contact_id) == "active"
    assert await world.reports(account) == 0
    assert await recorded_events(world.app, account, "email.bounced") == []

    # Signed, but about no message of ours: answered 200 (SNS would retry), nothing done.
    for unknown in (
        "<999999999.live@mail.shop.io>",  # no such message
        message_id.replace(".live@", ".sandbox@"),  # another environment
        message_id.replace(HOST, "elsewhere.example"),  # another system's Message-ID
    ):
        r = await client.post(
            "/hooks/ses",
            content=orjson.dumps(sns.notification(ses_bounce(unknown, "Permanent", "5.1.1"))),
        )
        assert r.status_code == 200, r.text
        assert r.json()["applied"] == 0
    # A topic's other traffic (not SES JSON) is no report either.
    plain = sns.sign(
        {
            "Type": "Notification",
            "MessageId": "m",
            "TopicArn": TOPIC,
            "Subject": "Hello",
            "Message": "just a test",
            "Timestamp": "2026-05-01T10:00:00.000Z",
        }
    )
    r = await client.post("/hooks/ses", content=orjson.dumps(plain))
    assert r.status_code == 200, r.text
    assert await world.reports(account) == 0
    assert await _status(account.live, contact_id) == "active"
    await account.close()


def test_the_default_sns_url_pattern_is_amazons_https_hosts() -> None:
    sns = Sns(frozenset({TOPIC}), SNS_URL_PATTERN, 1.0)
    good = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem"
    assert sns.trusted_url(good)
    assert sns.trusted_url("https://sns.cn-north-1.amazonaws.com.cn/x.pem")
    assert sns.trusted_url("https://sns.us-gov-west-1.amazonaws.com/x.pem")
    for bad in (
        good.replace("https:", "http:"),
        "https://sns.eu-west-1.amazonaws.com.evil.example/x.pem",
        "https://sns.eu-west-1.amazonaws.com@evil.example/x.pem",
        "https://evil.example/?https://sns.eu-west-1.amazonaws.com/x.pem",
        "https://s3.amazonaws.com/x.pem",
        # S3 buckets named "sns": valid TLS on amazonaws.com, anyone's content.
        "https://sns.s3.amazonaws.com/x.pem",
        "https://sns.s3-accelerate.amazonaws.com/x.pem",
        "https://sns.s3-us-west-2.amazonaws.com/x.pem",
        None,
    ):
        assert not sns.trusted_url(bad), bad


# ------------------------------------------------------------------ SendGrid


def _signed(key: ec.EllipticCurvePrivateKey, body: bytes, at: float | None = None) -> Any:
    timestamp = str(int(time.time() if at is None else at))
    signature = key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
        "content-type": "application/json",
    }


async def test_sendgrid_signed_events(world: World) -> None:
    account = await _new_account(world.app)
    api = account.live
    hard, blocked, complained, delivered, deferred = (
        _address(t) for t in ("hard", "blocked", "complained", "delivered", "deferred")
    )
    sent = await _sent(world, api, [hard, blocked, complained, delivered, deferred])
    # SendGrid is configured: each email carries our Message-ID as a unique argument.
    smtpapi = orjson.loads(str(sent[delivered][2]["X-SMTPAPI"]))
    assert smtpapi == {"unique_args": {"ac_message": sent[delivered][1].strip("<>")}}
    now = int(time.time())
    events = [
        {"event": "processed", "smtp-id": sent[hard][1], "timestamp": now},
        {"event": "bounce", "type": "bounce", "status": "5.1.1", "smtp-id": sent[hard][1],
         "reason": "550 5.1.1 The email account does not exist", "email": hard},
        {"event": "bounce", "type": "blocked", "status": "5.7.1", "smtp-id": sent[blocked][1],
         "reason": "550 5.7.1 Blocked for spam", "email": blocked},
        {"event": "deferred", "smtp-id": sent[deferred][1], "response": "451 4.7.1 later"},
        # Engagement events carry no smtp-id: the unique argument names the message.
        {"event": "spamreport", "ac_message": sent[complained][1].strip("<>")},
        {"event": "delivered", "ac_message": sent[delivered][1].strip("<>"),
         "response": "250 2.0.0 OK"},
        {"event": "bounce", "status": "5.1.1", "smtp-id": "<1.live@someone.else>"},
    ]  # fmt: skip
    body = orjson.dumps(events)
    client = world.client

    # Unsigned, badly signed, altered, stale: refused, and nothing changes.
    problem(await client.post("/hooks/sendgrid", content=body), 401)
    headers = _signed(world.sendgrid, body)
    altered = body.replace(b"5.7.1", b"5.1.1")
    problem(await client.post("/hooks/sendgrid", content=altered, headers=headers), 403)
    other_key = ec.generate_private_key(ec.SECP256R1())
    problem(
        await client.post("/hooks/sendgrid", content=body, headers=_signed(other_key, body)), 403
    )
    stale = _signed(world.sendgrid, body, at=time.time() - 11 * 60)
    problem(await client.post("/hooks/sendgrid", content=body, headers=stale), 403)
    future = _signed(world.sendgrid, body, at=time.time() + 11 * 60)
    problem(await client.post("/hooks/sendgrid", content=body, headers=future), 403)
    bad = {**headers, "X-Twilio-Email-Event-Webhook-Signature": "AAAA"}
    problem(await client.post("/hooks/sendgrid", content=body, headers=bad), 403)
    assert await world.reports(account) == 0

    r = await client.post("/hooks/sendgrid", content=body, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json() == {"received": 4, "applied": 4}
    # Replayed within the window (or retried by SendGrid): counted once.
    r = await client.post("/hooks/sendgrid", content=body, headers=headers)
    assert r.json() == {"received": 4, "applied": 0}
    # Signed but not JSON, or not a list: 400.
    for junk in (b"{oops", b'{"event": "bounce"}'):
        problem(
            await client.post(
                "/hooks/sendgrid", content=junk, headers=_signed(world.sendgrid, junk)
            ),
            400,
        )

    assert await _status(api, sent[hard][0]) == "bounced"
    assert await _suppressed(api, hard) == "bounced"
    assert await _status(api, sent[blocked][0]) == "active"  # a policy refusal
    assert (await world.message(account, sent[blocked][1]))["bounce_kind"] == "policy"
    assert await _status(api, sent[complained][0]) == "complained"
    assert await _status(api, sent[deferred][0]) == "active"
    assert (await world.message(account, sent[deferred][1]))["bounce_kind"] is None
    assert (await world.message(account, sent[delivered][1]))["delivered_at"] is not None
    assert (await world.message(account, sent[complained][1]))["complained_at"] is not None
    assert await world.reports(account) == 4
    bounced = await recorded_events(world.app, account, "email.bounced")
    assert [(e["to"], e["statusCode"]) for _, e in bounced] == [(hard, "5.1.1")]
    complaints = await recorded_events(world.app, account, "email.complained")
    assert [e["to"] for _, e in complaints] == [complained]
    await account.close()


# ------------------------------------------------------------------ Postmark


def _basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


async def test_postmark_reports_with_basic_auth(world: World) -> None:
    account = await _new_account(world.app)
    api = account.live
    hard, soft, complained, delivered, delayed = (
        _address(t) for t in ("hard", "soft", "complained", "delivered", "delayed")
    )
    sent = await _sent(world, api, [hard, soft, complained, delivered, delayed])
    # Postmark is configured: each email carries our Message-ID as Postmark metadata.
    assert sent[hard][2]["X-PM-Metadata-ac_message"] == sent[hard][1].strip("<>")

    def meta(address: str) -> dict[str, str]:
        return {"ac_message": sent[address][1].strip("<>")}

    calls = [
        {"RecordType": "Bounce", "Type": "HardBounce", "TypeCode": 1, "MessageID": "pm-1",
         "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist",
         "Email": hard, "Metadata": meta(hard)},
        {"RecordType": "Bounce", "Type": "SoftBounce", "TypeCode": 4096, "MessageID": "pm-2",
         "Details": "mailbox full", "Email": soft, "Metadata": meta(soft)},
        {"RecordType": "Bounce", "Type": "Transient", "TypeCode": 2, "MessageID": "pm-3",
         "Details": "delayed", "Email": delayed, "Metadata": meta(delayed)},
        {"RecordType": "SpamComplaint", "Type": "SpamComplaint", "MessageID": "pm-4",
         "Email": complained, "Metadata": meta(complained)},
        {"RecordType": "Delivery", "MessageID": "pm-5", "Recipient": delivered,
         "Details": "smtp;250 2.0.0 OK", "Metadata": meta(delivered)},
        # Another system's mail through the same Postmark server: no metadata of ours.
        {"RecordType": "Bounce", "Type": "HardBounce", "MessageID": "pm-6", "Metadata": {}},
    ]  # fmt: skip
    client = world.client
    good = _basic(*POSTMARK)
    body = orjson.dumps(calls[0])

    unauthenticated = await client.post("/hooks/postmark", content=body)
    assert problem(unauthenticated, 401)["detail"]
    assert unauthenticated.headers["www-authenticate"].startswith("Basic")
    for user, password in ((POSTMARK[0], "wrong"), ("someone", POSTMARK[1]), ("", "")):
        problem(
            await client.post("/hooks/postmark", content=body, headers=_basic(user, password)),
            401,
        )
    bearer = {"Authorization": f"Bearer {POSTMARK[1]}"}
    problem(await client.post("/hooks/postmark", content=body, headers=bearer), 401)
    assert await world.reports(account) == 0
    problem(await client.post("/hooks/postmark", content=b"{", headers=good), 400)

    applied = []
    for call in calls:
        r = await client.post("/hooks/postmark", content=orjson.dumps(call), headers=good)
        assert r.status_code == 200, r.text
        applied.append(r.json()["applied"])
    assert applied == [1, 1, 0, 1, 1, 0]
    r = await client.post("/hooks/postmark", content=body, headers=good)  # Postmark retried
    assert r.json()["applied"] == 0

    assert await _status(api, sent[hard][0]) == "bounced"
    assert await _suppressed(api, hard) == "bounced"
    assert await _status(api, sent[soft][0]) == "active"
    assert (await world.message(account, sent[soft][1]))["bounce_kind"] == "soft"
    assert (await world.message(account, sent[delayed][1]))["bounce_kind"] is None
    assert await _status(api, sent[complained][0]) == "complained"
    assert await _suppressed(api, complained) == "complained"
    assert (await world.message(account, sent[delivered][1]))["delivered_at"] is not None
    bounced = await recorded_events(world.app, account, "email.bounced")
    assert sorted((e["to"], e["hardBounce"]) for _, e in bounced) == sorted(
        [(hard, True), (soft, False)]
    )
    assert len(await recorded_events(world.app, account, "email.complained")) == 1
    await account.close()


# ------------------------------------------------------------------ off, and limits


async def test_the_hooks_are_off_until_configured(app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for hook in ("ses", "sendgrid", "postmark"):
            problem(await client.post(f"/hooks/{hook}", content=b"{}"), 404)
    # Nor are they in the API's document.
    assert not [p for p in app.openapi()["paths"] if p.startswith("/hooks")]


async def test_refusals_count_against_the_address(world: World, settings: Settings) -> None:
    """Failed attempts spend the client address's budget for failed requests (like a wrong
    API key): over it, 429 before any check."""
    url = world.app.state.services.settings.database_url
    async with running_app(
        settings,
        database_url=url,
        embedded_worker=False,
        rate_limit_enabled=True,
        anonymous_rate=3,
        postmark_webhook_user=POSTMARK[0],
        postmark_webhook_password=POSTMARK[1],
    ) as app:
        transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            statuses = [
                (await client.post("/hooks/postmark", content=b"{}")).status_code for _ in range(6)
            ]
    assert statuses[:3] == [401, 401, 401]
    assert statuses[-1] == 429


def test_parsing_names_only_our_messages() -> None:
    assert providers.message_of("<12.live@mail.shop.io>", HOST) == (12, "live")
    assert providers.message_of("12.sandbox@MAIL.shop.io", HOST) == (12, "sandbox")
    for other in (
        "<12.live@other.io>",
        "<x.live@mail.shop.io>",
        "<1" + "0" * 19 + ".live@mail.shop.io>",
        None,
        12,
    ):
        assert providers.message_of(other, HOST) is None
    assert providers.status_in("smtp; 550 5.1.1 <a@b.io>: user unknown") == "5.1.1"
    assert providers.status_in("250 OK") is None
    # The headers services echo back are added only for the services configured.
    assert relay_headers("<12.live@mail.shop.io>", frozenset()) == {}
    assert relay_headers("<12.live@mail.shop.io>", frozenset({"postmark"})) == {
        "X-PM-Metadata-ac_message": "12.live@mail.shop.io"
    }
