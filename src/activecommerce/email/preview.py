"""A message rendered for one contact before it is saved or sent (the console's live
preview): the sender's own rendering (`prepare_content`, `compose`), after the same
template checks as saving (`template_errors`: bounded, in the parser process), and off
the event loop."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from activecommerce.brands.service import brands
from activecommerce.email import repository
from activecommerce.email.compose import Composed, compose, prepare_content
from activecommerce.email.links import LinkSigner
from activecommerce.email.templates import template_errors
from activecommerce.kit.db import Database
from activecommerce.kit.principal import Principal
from activecommerce.kit.problems import Problem

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


async def preview(
    db: Database,
    principal: Principal,
    signer: LinkSigner,
    content: dict[str, Any],
    contact_email: str | None,
) -> Preview:
    """`content` by API name (subject, htmlContent, plaintextContent, fromEmail, fromName,
    replyToEmail, brandId) rendered for the contact with `contact_email` (else with empty
    fields, as a test copy would be). Template errors come back as field errors."""
    errors = await template_errors({name: content.get(name) for name in TEMPLATED})
    if errors:
        return Preview(errors=errors)
    brand = None
    if content.get("brandId"):
        try:
            brand = await brands.get_row(db, principal, str(content["brandId"]))
        except Problem:
            brand = None
    row = {column: content.get(name) or None for name, column in TEMPLATED.items()}
    row["subject"] = content.get("subject") or ""
    row |= {
        "from_email": content.get("fromEmail") or "",
        "from_name": content.get("fromName") or None,
        "reply_to_email": content.get("replyToEmail") or None,
    }
    found = (
        await repository.contact_by_email(db, principal, contact_email) if contact_email else None
    )
    contact = {
        "email": found["email"] if found else "",
        "firstName": (found["first_name"] if found else "") or "",
        "lastName": (found["last_name"] if found else "") or "",
        "phone": (found["phone"] if found else "") or "",
    }

    def render() -> Composed:
        return compose(
            prepare_content(row, brand),
            message_id=0,
            env=principal.env,
            to=contact["email"] or PREVIEW_TO,
            contact=contact,
            signer=signer,
        )

    try:
        composed = await asyncio.to_thread(render)
    except Exception as exc:  # a template that parses but fails to render (the sender's rule)
        return Preview(errors=[{"field": "htmlContent", "message": f"does not render: {exc}"}])
    return Preview(composed=composed, contact_found=found is not None)
