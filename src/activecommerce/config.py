"""One settings object, read from ACTIVECOMMERCE_* environment variables."""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Requests per second per account and environment, by plan; operators may
# override any of them (ACTIVECOMMERCE_PLAN_RATES). The keys are the plans of
# accounts.plans.PLANS.
DEFAULT_PLAN_RATES: dict[str, int] = {
    "free": 10,
    "lite": 30,
    "plus": 60,
    "professional": 120,
    "enterprise": 240,
}

# Amazon SNS's own hosts, over https only: sns.<region>.amazonaws.com (.com.cn in China).
# A region's SNS host only (us-east-1, us-gov-west-1, cn-north-1): `sns.s3.amazonaws.com`
# and the like are S3 buckets anyone can name "sns".
SNS_URL_PATTERN = r"https://sns\.[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]\.amazonaws\.com(\.cn)?/"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ACTIVECOMMERCE_", extra="ignore")

    data_dir: Path = Path(".data")
    database_url: str | None = None
    redis_url: str | None = None
    public_url: str | None = None
    secret_key: str | None = None
    max_body_bytes: int = 1024 * 1024
    # Contact imports (POST /v3/contactImports) are streamed, not held: their own limit.
    max_import_bytes: int = Field(default=2 * 1024**3, gt=0)
    # Contacts written per transaction by an import; default 500 on SQLite (its one writer
    # is held meanwhile), 5,000 on PostgreSQL.
    import_batch_size: int | None = Field(default=None, gt=0, le=10_000)
    rate_limit_enabled: bool = True
    opentelemetry: bool = False  # FastAPI's built-in traces, metrics and logs
    # Requests per second per account and environment; operators may override any plan,
    # e.g. ACTIVECOMMERCE_PLAN_RATES='{"free": 5}'.
    plan_rates: dict[str, int] = Field(default_factory=dict, validate_default=True)
    anonymous_rate: int = 20
    rate_limit_prefix: str = "activecommerce"
    # Peers whose X-Forwarded-For is believed: comma-separated IPs or CIDRs, none by default.
    trusted_proxies: str = ""
    # Origins whose pages may call the API from a browser (CORS): comma-separated exact
    # origins such as https://app.example.com; none by default.
    cors_origins: str = ""

    # The database: bounded waits, then 503 with Retry-After (kit/db.py).
    db_acquire_timeout_seconds: float = Field(default=2.0, gt=0)
    db_statement_timeout_seconds: float = Field(default=5.0, gt=0)
    db_retry_after_seconds: float = Field(default=2.0, gt=0)

    # HTTP connections (`serve`, see server.py).
    http_header_timeout_seconds: float = Field(default=10.0, gt=0)
    http_body_timeout_seconds: float = Field(default=30.0, gt=0)
    http_keepalive_seconds: int = Field(default=5, gt=0)
    http_max_connections: int = Field(default=1000, gt=0)

    # Background work and webhooks.
    embedded_worker: bool | None = None  # default: on with SQLite, off with PostgreSQL
    worker_concurrency: int = 32
    job_lease_seconds: float = 30.0
    job_poll_interval: float = 0.05
    webhook_retry_schedule: str = "5s,5m,30m,2h,5h,10h,14h,20h,24h"
    webhook_timeout_seconds: float = 10.0
    webhook_disable_after: int = 50
    webhook_connections_per_host: int = 8
    webhook_allow_loopback: bool = False
    webhook_allow_private: bool = False
    # Fair delivery, DNS, failure streaks and retention (the hooks branch).
    worker_lane_concurrency: int = 8  # jobs of one lane (one webhook) in flight per worker
    worker_account_concurrency: int = 16  # jobs of one account in flight per worker
    webhook_disable_after_seconds: float = 3 * 24 * 3600.0  # a failure streak this long
    dns_timeout_seconds: float = 2.0
    dns_servers: str = ""  # comma-separated "ip" or "ip:port"; empty: the system's
    event_retention_days: float = 30.0
    event_prune_interval_seconds: float = 300.0

    # Email. Without an SMTP URL, live mail is captured like the sandbox's.
    smtp_url: str | None = None  # smtp://user:pass@host:587?starttls=true, smtps://...:465
    smtp_connections: int = Field(default=8, gt=0)  # per worker, kept open and reused
    smtp_rate: float | None = Field(default=None, gt=0)  # messages/s across all workers
    smtp_timeout_seconds: float = Field(default=30.0, gt=0)
    capture_retention_days: float = Field(default=7.0, gt=0)
    # Recipients handled by one send job (a worker runs several at once).
    email_batch_size: int = Field(default=250, gt=0, le=1000)
    # A recipient's mailbox that keeps answering "try later" (4xx) is given up after this.
    email_max_attempts: int = Field(default=12, gt=0)
    # First wait after a temporary failure (then doubled, up to 10 minutes).
    email_retry_seconds: float = Field(default=10.0, gt=0)
    # Bounces and complaints: the domain whose mail reaches `activecommerce inbound`. Set,
    # each message's envelope sender is a signed address on it (deliverability/verp.py).
    bounce_domain: str | None = None
    # The host that sending domains' SPF records include (`include:<host>`); default:
    # `_spf.` and the public URL's host.
    spf_include: str | None = None

    # Delivery reports from sending services (docs/guides/email-deliverability.md); each
    # webhook is off (404) until configured. Amazon SES through SNS: the topics believed
    # (comma-separated ARNs), where signing certificates and subscription confirmations
    # may be fetched from (a regex matched at the start of the URL), and that fetch's
    # timeout.
    ses_topic_arns: str = ""
    ses_sns_url_pattern: str = SNS_URL_PATTERN
    ses_timeout_seconds: float = Field(default=5.0, gt=0)
    # SendGrid's signed event webhook: its verification key, base64 DER as SendGrid shows it.
    sendgrid_webhook_public_key: str | None = None
    # Postmark: the user and password of the webhook's HTTP basic auth (both, or neither).
    postmark_webhook_user: str | None = None
    postmark_webhook_password: str | None = None

    # Users, sessions and OAuth 2.0 (docs/decisions/010-users-and-oauth.md).
    oauth_access_token_seconds: int = Field(default=3600, gt=0)
    oauth_refresh_token_seconds: int = Field(default=30 * 24 * 3600, gt=0)
    oauth_code_seconds: int = Field(default=60, gt=0, le=600)
    session_seconds: int = Field(default=12 * 3600, gt=0)
    # Per client address: requests to the token endpoint, and sign-in attempts, per minute.
    oauth_token_rate: int = Field(default=60, gt=0)
    signin_rate: int = Field(default=20, gt=0)
    # Failed sign-ins per email address in 15 minutes before that address is refused.
    signin_failures_per_email: int = Field(default=10, gt=0)
    # Signup forms: submissions per client address per minute (0: no limit), and how long
    # a contact that never confirmed its subscription is kept.
    form_rate: int = Field(default=10, ge=0)
    unconfirmed_retention_days: float = Field(default=30.0, gt=0)
    # Argon2id hashes computed at once (threads); more sign-ins wait, past a queue: 503.
    password_hash_threads: int = Field(default=2, gt=0)

    @property
    def links_base(self) -> str:
        """Where links in emails point (unsubscribe, tracking): the public URL."""
        return (self.public_url or "http://127.0.0.1:8000").rstrip("/")

    @property
    def runs_embedded_worker(self) -> bool:
        if self.embedded_worker is not None:
            return self.embedded_worker
        return self.database_url is None or self.database_url.startswith("sqlite")

    @property
    def retry_delays(self) -> list[float]:
        units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
        return [
            float(part[:-1]) * units[part[-1]] for part in self.webhook_retry_schedule.split(",")
        ]

    @field_validator("webhook_retry_schedule")
    @classmethod
    def _check_schedule(cls, value: str) -> str:
        for part in value.split(","):
            if not re.fullmatch(r"[0-9]+(\.[0-9]+)?[smhd]", part.strip()):
                raise ValueError(f"bad retry delay {part!r}: use e.g. 5s, 5m, 2h, 1d")
        return ",".join(part.strip() for part in value.split(","))

    @field_validator("bounce_domain")
    @classmethod
    def _check_bounce_domain(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        domain = value.strip().rstrip(".").lower()
        label = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
        if len(domain) > 200 or not re.fullmatch(rf"{label}(\.{label})+", domain):
            raise ValueError(f"not a domain name: {value!r} (e.g. bounces.example.com)")
        return domain

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: str) -> str:
        parts = [part.strip() for part in value.split(",") if part.strip()]
        for part in parts:
            try:
                ipaddress.ip_network(part, strict=False)
            except ValueError:
                raise ValueError(f"not an IP address or CIDR: {part!r}") from None
        return ",".join(parts)

    @field_validator("cors_origins")
    @classmethod
    def _check_origins(cls, value: str) -> str:
        parts = [part.strip() for part in value.split(",") if part.strip()]
        for part in parts:
            if not re.fullmatch(r"https?://[^/?#\s]+", part):
                raise ValueError(f"not an origin (scheme://host[:port]): {part!r}")
        return ",".join(parts)

    @field_validator("ses_sns_url_pattern")
    @classmethod
    def _check_sns_pattern(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return value

    @field_validator("sendgrid_webhook_public_key")
    @classmethod
    def _check_sendgrid_key(cls, value: str | None) -> str | None:
        if not value or not value.strip():
            return None
        from activecommerce.deliverability.signatures import sendgrid_key

        sendgrid_key(value)  # ValueError when it is no P-256 public key
        return value.strip()

    @model_validator(mode="after")
    def _check_postmark(self) -> Settings:
        if bool(self.postmark_webhook_user) != bool(self.postmark_webhook_password):
            raise ValueError(
                "set both ACTIVECOMMERCE_POSTMARK_WEBHOOK_USER and"
                " ACTIVECOMMERCE_POSTMARK_WEBHOOK_PASSWORD, or neither"
            )
        return self

    @property
    def ses_topics(self) -> frozenset[str]:
        return frozenset(part.strip() for part in self.ses_topic_arns.split(",") if part.strip())

    @property
    def postmark_credentials(self) -> tuple[str, str] | None:
        if self.postmark_webhook_user and self.postmark_webhook_password:
            return self.postmark_webhook_user, self.postmark_webhook_password
        return None

    @property
    def tagged_relays(self) -> frozenset[str]:
        """The sending services whose webhooks are configured: outgoing mail carries the
        header each of them echoes back in its reports (Postmark's metadata, SendGrid's
        unique arguments), naming the message."""
        relays = set()
        if self.postmark_credentials is not None:
            relays.add("postmark")
        if self.sendgrid_webhook_public_key:
            relays.add("sendgrid")
        return frozenset(relays)

    @property
    def cors_origin_list(self) -> list[str]:
        return [part for part in self.cors_origins.split(",") if part]

    def trusted_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(
            ipaddress.ip_network(part.strip(), strict=False)
            for part in self.trusted_proxies.split(",")
            if part.strip()
        )

    @field_validator("plan_rates")
    @classmethod
    def _complete_rates(cls, value: dict[str, int]) -> dict[str, int]:
        unknown = set(value) - set(DEFAULT_PLAN_RATES)
        if unknown:
            raise ValueError(f"unknown plans: {sorted(unknown)}")
        if any(rate < 1 for rate in value.values()):
            raise ValueError("rates must be at least 1 per second")
        return {**DEFAULT_PLAN_RATES, **value}

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'activecommerce.db').resolve()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
