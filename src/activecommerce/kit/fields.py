"""Field types shared by every resource's schemas.

Text is stored exactly as sent. What we refuse is only what cannot be stored faithfully
(NUL, which PostgreSQL's text cannot hold, and lone surrogates, which are not UTF-8) and,
in names and other one-line fields, control characters.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Annotated, Any

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, create_model

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ID = re.compile(r"[1-9][0-9]{0,17}")
_COLOR = re.compile(r"#[0-9A-Fa-f]{6}")

MAX_INT32 = 2_147_483_647
MAX_INT64 = 9_223_372_036_854_775_807

# ISO 4217 active codes (list maintained by SIX; no Python library ships it on its own).
CURRENCIES = frozenset(
    """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL
    BSD BTN BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK DJF DKK DOP
    DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR
    IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD
    MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB
    PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD
    SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS
    VED VES VND VUV WST XAF XAG XAU XBA XBB XBC XBD XCD XCG XDR XOF XPD XPF XPT XSU XTS XUA
    XXX YER YOU ZAR ZMW ZWG ZWL""".split()  # noqa: SIM905 - a list of 180 codes reads best as text
)


def storable(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (no lone surrogates)") from None
    return value


def _one_line(value: str) -> str:
    storable(value)
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


# The common address: a dot-atom of ASCII characters before the @-sign (RFC 5322 atext)
# and hostname characters after it. email_validator accepts such a local part as it is;
# its domain is checked by email_validator itself, once per domain (`_domain`).
_ATEXT = r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+"
_PLAIN_EMAIL = re.compile(rf"({_ATEXT}(?:\.{_ATEXT})*)@([A-Za-z0-9.-]+)\Z")
EMAIL_MAX_LENGTH = 254


# The sandbox's mailbox simulator (deliverability/simulator.py): a special-use name
# (.test) that email_validator refuses, accepted by name.
SIMULATOR_DOMAIN = "simulator.activecommerce.test"


@lru_cache(maxsize=8192)
def _domain(domain: str) -> tuple[int, int] | None:
    """The UTF-8 lengths of a valid domain's normalized and ASCII forms (None: invalid),
    as email_validator computes them for an address at that domain."""
    if domain.lower() == SIMULATOR_DOMAIN:
        return len(domain), len(domain)
    try:
        checked = validate_email("a@" + domain, check_deliverability=False)
    except EmailNotValidError:
        return None
    return len(checked.domain.encode()), len(checked.ascii_domain.encode())


def _plain_email(value: str) -> bool:
    """Whether `value` is a plain address email_validator accepts, decided without
    calling it for every address: a bulk import checks a million of them, and a full
    validation costs ~75 µs. Only ever says yes for what email_validator accepts; for
    anything else (quotes, international characters, errors) the caller asks it."""
    match = _PLAIN_EMAIL.match(value)
    if match is None:
        return False
    lengths = _domain(match.group(2))
    if lengths is None:
        return False
    local = len(match.group(1)) + 1  # ASCII: characters are bytes
    return len(value) <= EMAIL_MAX_LENGTH and local + max(lengths) <= EMAIL_MAX_LENGTH


def _email(value: str) -> str:
    if _plain_email(value):
        return value
    _one_line(value)
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"is not a valid email address: {exc}") from None
    return value  # stored as sent; compared case-insensitively by the database


def _currency(value: str) -> str:
    if value not in CURRENCIES:
        raise ValueError("must be an ISO 4217 currency code, such as USD")
    return value


def _color(value: str) -> str:
    if not _COLOR.fullmatch(value):
        raise ValueError("must be a color in the form #RRGGBB")
    return value


def _ref(value: str) -> str:
    if not _ID.fullmatch(value):
        raise ValueError("is not a valid id")
    return value


# The JSON Schema of each type says what the validator checks, so that clients (and
# schemathesis) can tell valid input from invalid; the validators give the messages.
ONE_LINE = {"pattern": "^[^\\x00-\\x1f\\x7f]*$"}
Name = Annotated[
    str,
    StringConstraints(min_length=1, max_length=255),
    AfterValidator(_one_line),
    Field(json_schema_extra=ONE_LINE),
]
ShortText = Annotated[
    str,
    StringConstraints(max_length=255),
    AfterValidator(_one_line),
    Field(json_schema_extra=ONE_LINE),
]
LongText = Annotated[
    str,
    StringConstraints(max_length=1_000_000),
    AfterValidator(storable),
    Field(json_schema_extra={"pattern": "^[^\\x00]*$"}),
]
Email = Annotated[
    str,
    StringConstraints(min_length=3, max_length=254),
    AfterValidator(_email),
    Field(json_schema_extra={"format": "email"}, examples=["ann@example.com"]),
]
Currency = Annotated[
    str,
    AfterValidator(_currency),
    Field(examples=["USD"], json_schema_extra={"enum": sorted(CURRENCIES)}),
]
Color = Annotated[str, AfterValidator(_color), Field(pattern=r"^#[0-9A-Fa-f]{6}$")]
Ref = Annotated[
    str,
    AfterValidator(_ref),
    Field(
        description="The id of another object",
        examples=["1"],
        json_schema_extra={"pattern": "^[1-9][0-9]{0,17}$"},
    ),
]
# A list filter's value: bounded (SQLite refuses LIKE patterns over 50,000 characters)
# and storable text (PostgreSQL refuses NUL even in a parameter).
FilterText = Annotated[str, StringConstraints(max_length=255), AfterValidator(storable)]
NonNegInt32 = Annotated[int, Field(strict=True, ge=0, le=MAX_INT32)]
NonNegInt64 = Annotated[int, Field(strict=True, ge=0, le=MAX_INT64)]


def ascii_digits(text: str) -> bool:
    """Whether `text` is a whole number written with 0-9 only. `str.isdigit` alone also
    accepts superscripts ("²"), which `int()` refuses, and other scripts' digits."""
    return text.isascii() and text.isdigit()


def parse_id(value: str) -> int | None:
    """A path or body id as the database's integer, or None when it cannot be one."""
    if _ID.fullmatch(value):
        return int(value)
    return None


class Input(BaseModel):
    """Base of every request body: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


class Output(BaseModel):
    model_config = ConfigDict(extra="forbid")


def patch_model_of(create: type[BaseModel]) -> type[BaseModel]:
    """The PATCH body: every field of the create body, none required."""
    fields: dict[str, Any] = {}
    for field_name, info in create.model_fields.items():
        annotation: Any = info.annotation
        if info.metadata:
            annotation = Annotated[(annotation, *info.metadata)]  # keep the constraints
        fields[field_name] = (
            annotation | None,
            Field(None, description=info.description, discriminator=info.discriminator),
        )
    return create_model(
        create.__name__.replace("In", "Patch"),
        __config__=ConfigDict(extra="forbid"),
        **fields,
    )
