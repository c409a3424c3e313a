"""A message rendered for one contact before it is saved or sent (the console's live
preview): the sender's own rendering (`prepare_content`, `compose`) after the same
template checks as saving (`template_error`), both in the parser process
(`templates.in_parser`: bounded in time, never holding the event loop's GIL, however
large the template)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from activecommerce.contacts import service as contacts
from activecommerce.email import service as email
from activecommerce.email.compose import Composed, compose, prepare_content
from activecommerce.email.links import LinkSigner
from activecommerce.email.repository import Source
from activecommerce.email.templates import in_parser, template_error
from activecommerce.fields import values
from activecommerce.fields.definitions import definitions
from activecommerce.kit.db import Database
from activecommerce.kit.principal import Principal

TEMPLATED = {
    "subject": "subject",
    "htmlContent": "html_content",
    "plaintextContent": "plaintext_content",
}
PREVIEW_TO = "preview@example.invalid"


@dataclass
class Preview:
    composed: Composed | None = None
    contact_found: bool = False
    errors: list[dict[str, str]] = field(default_factory=list)


def _render(
    row: dict[str, Any],
    brand: dict[str, Any] | None,
    contact: dict[str, str],
    signer: LinkSigner,
    env: str,
    account_id: int,
    kind: Source,
    default_address: str | None,
) -> Composed | list[dict[str, str]]:
    """In the parser process: the field errors of the templates, else the message."""
    errors = []
    for name, column in TEMPLATED.items():
        message = template_error(row[column]) if row[column] else None
        if message:
            errors.append({"field": name, "message": message})
    if errors:
        return errors
    try:
        return compose(
            prepare_content(
                row, brand, account_id=account_id, kind=kind, default_address=default_address
            ),
            message_id=0,
            env=env,
            to=contact["email"] or PREVIEW_TO,
            contact=contact,
            signer=signer,
            tracked=False,  # a preview records no open and no click
        )
    except Exception as exc:  # parses, yet fails to render (the sender's rule: failed)
        return [{"field": "message", "message": f"does not render: {exc}"}]


async def preview(
    db: Database,
    principal: Principal,
    signer: LinkSigner,
    content: dict[str, Any],
    contact_email: str | None,
    *,
    kind: Source = "campaign",
    source_id: int | None = None,
) -> Preview:
    """`content` by API name (subject, htmlContent, plaintextContent, fromEmail, fromName,
    replyToEmail, brandId) rendered for the contact with `contact_email` (else with empty
    fields, as a test copy would be). Template errors come back as field errors. With
    the headers the sender adds: List-Id (the brand's), Feedback-ID (of `kind` and
    `source_id`, when it is saved), Precedence (campaigns), and the footer's postal
    address (the brand's, else the account's)."""
    brand = None
    chosen = await email.brand_of(db, principal, content.get("brandId") or None)
    if chosen is not None:
        brand = {
            "id": chosen["id"],
            "name": chosen["name"],
            "from_name": chosen["from_name"],
            "postal_address": chosen["postal_address"],
        }
    default_address = await email.default_postal_address(db, principal)
    row = {column: content.get(name) or None for name, column in TEMPLATED.items()}
    row["id"] = source_id
    row["subject"] = content.get("subject") or ""
    row |= {
        "from_email": content.get("fromEmail") or "",
        "from_name": content.get("fromName") or None,
        "reply_to_email": content.get("replyToEmail") or None,
    }
    found = None
    if contact_email:
        found = await contacts.by_email(db, principal, contact_email)
    contact = {
        "email": found["email"] if found else "",
        "firstName": (found["first_name"] if found else "") or "",
        "lastName": (found["last_name"] if found else "") or "",
        "phone": (found["phone"] if found else "") or "",
        "fields": values.shown(found["fields"], await definitions(db, principal))
        if found and found["fields"]
        else {},
    }
    rendered = await in_parser(
        _render,
        row,
        brand,
        contact,
        signer,
        principal.env,
        principal.account_id,
        kind,
        default_address,
    )
    if rendered is None:
        return Preview(errors=[{"field": "message", "message": "is too large to preview in time"}])
    if isinstance(rendered, list):
        return Preview(errors=rendered)
    return Preview(composed=rendered, contact_found=found is not None)
