"""Signup forms: the collection (`forms`), a submission of its hosted page, and the
person's confirmation (double opt-in).

- A form names the fields it asks (the contact's own and the account's custom fields),
  the groups and tags the person joins, whether a confirmation by email is needed, and
  that email. What it names stays: deleting a group, tag or custom field a form names is
  a 409 naming the forms (as for segments).
- A submission with double opt-in makes a new address an `unconfirmed` contact (one on
  the suppression list gets its entry's status), never touches an existing contact (an
  `active` one is never downgraded, a stopped one stays stopped; its answers wait in the
  submission) and queues the confirmation email (`forms.mail`), the only email such a
  contact may get. Without double opt-in the person is subscribed at once, unless the
  address's mail was stopped (anyone can type someone else's address): then it is asked
  to confirm instead.
- Confirming (a POST of the signed link's page) subscribes the person
  (`contacts.subscription.subscribe`), once: a link that was used, or that predates a
  withdrawal of consent, does nothing.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from html import escape
from typing import Any

import orjson

from activecommerce.brands.service import brands
from activecommerce.consent import service as consent
from activecommerce.contacts import subscription
from activecommerce.email.templates import template_errors
from activecommerce.fields import values
from activecommerce.fields.definitions import FieldDef, definitions, key_of
from activecommerce.fields.service import contact_fields
from activecommerce.forms import models, repository
from activecommerce.forms.schemas import FormIn, FormOut
from activecommerce.groups.service import contact_groups
from activecommerce.jobs import queue
from activecommerce.kit.clock import after
from activecommerce.kit.db import Connection, Database, Row
from activecommerce.kit.fields import patch_model_of
from activecommerce.kit.named import NAME_SORTS
from activecommerce.kit.pagination import envelope
from activecommerce.kit.principal import Principal
from activecommerce.kit.problems import Problem, conflict, not_found
from activecommerce.kit.repository import Scoped
from activecommerce.kit.resource import DeleteGuard, Resource, Rules, require_ref, unchanged
from activecommerce.tags.service import contact_tags

# The job that sends a submission's confirmation email (forms/mail.py).
MAIL = "forms.mail"
PUBLIC_ID_BYTES = 16  # secrets.token_urlsafe: 22 characters, 128 random bits
MAX_ANSWER = 2000  # characters of one answer (a custom text field takes more elsewhere)
LABELS = {"email": "Email", "firstName": "First name", "lastName": "Last name", "phone": "Phone"}
HONEYPOT = "website"  # a hidden field people never fill and bots do


class FormRules(Rules[FormIn]):
    async def check(self, principal: Principal, sent: dict[str, Any]) -> None:
        mail = sent.get("confirmationEmail") or {}
        errors = await template_errors(
            {
                "confirmationEmail.subject": mail.get("subject"),
                "confirmationEmail.htmlContent": mail.get("htmlContent"),
            }
        )
        if errors:
            raise Problem(422, "The request has invalid fields.", errors=errors)

    async def prepare(
        self, conn: Connection, principal: Principal, new: FormIn, current: dict[str, Any] | None
    ) -> dict[str, Any]:
        values_ = new.model_dump(mode="json")
        defs = await definitions(conn, principal)
        errors: list[dict[str, str]] = []
        seen: set[str] = set()
        for i, asked in enumerate(new.fields):
            if asked.key in seen:
                errors.append({"field": f"fields.{i}.key", "message": "is asked twice"})
            seen.add(asked.key)
            if asked.key.startswith("fields.") and asked.key[7:] not in defs:
                errors.append(
                    {"field": f"fields.{i}.key", "message": "is not a custom field of this account"}
                )
        required = {f.key for f in new.fields if f.required}
        for definition in defs.values():
            wanted = definition.required and definition.default is None
            if wanted and f"fields.{definition.key}" not in required:
                errors.append(
                    {
                        "field": "fields",
                        "message": f"must ask for the custom field {definition.key!r}"
                        " (required of every contact) as a required field",
                    }
                )
        if errors:
            raise Problem(422, "The request has invalid fields.", errors=errors)
        before = current or {}
        for name, target in (("groupIds", contact_groups), ("tagIds", contact_tags)):
            ids = list(dict.fromkeys(values_[name]))  # in order, once each
            for i, ref in enumerate(ids):
                same = ref in (before.get(name) or [])
                await require_ref(conn, principal, target, f"{name}.{i}", ref, unchanged=same)
            values_[name] = ids
        mail = values_.get("confirmationEmail")
        if mail is not None:
            before_mail = {"brandId": (before.get("confirmationEmail") or {}).get("brandId")}
            same = unchanged(before_mail, mail, "brandId")
            await require_ref(
                conn,
                principal,
                brands,
                "confirmationEmail.brandId",
                mail["brandId"],
                unchanged=same,
            )
        if current is None:
            values_["publicId"] = secrets.token_urlsafe(PUBLIC_ID_BYTES)
        return values_


forms = Resource(
    collection="forms",
    event_name="form",
    table=models.forms,
    title="form",
    create_model=FormIn,
    patch_model=patch_model_of(FormIn),
    out_model=FormOut,
    sortable=NAME_SORTS,
    rules=FormRules(),
)


# ---------------------------------------------------------------- what names what


async def forms_naming(
    db: Connection | Database,
    principal: Principal,
    *,
    group: int | None = None,
    tag: int | None = None,
    field_key: str | None = None,
) -> list[tuple[int, str]]:
    """The caller's forms that name this group, tag or custom field (by key), by id."""
    scope = Scoped(db, principal)
    if group is not None:
        column, fragment, wanted = "group_ids", f'"{group}"', str(group)
    elif tag is not None:
        column, fragment, wanted = "tag_ids", f'"{tag}"', str(tag)
    else:
        assert field_key is not None
        column, fragment, wanted = "fields", f'"fields.{field_key}"', f"fields.{field_key}"
    found = []
    for row in await repository.mentioning(scope, column, fragment):
        stored = orjson.loads(row["value"])
        names = [item["key"] for item in stored] if column == "fields" else stored
        if wanted in names:
            found.append((int(row["id"]), str(row["name"])))
    return found


def _refuse_if_named(what: str, kind: str) -> DeleteGuard:
    async def guard(conn: Connection, principal: Principal, object_id: int) -> None:
        if kind == "group":
            found = await forms_naming(conn, principal, group=object_id)
        elif kind == "tag":
            found = await forms_naming(conn, principal, tag=object_id)
        else:
            key = await key_of(conn, principal, object_id)
            found = [] if key is None else await forms_naming(conn, principal, field_key=key)
        if found:
            named = ", ".join(f"{form_id} ({name!r})" for form_id, name in found)
            raise conflict(
                f"This {what} is named by the signup forms {named}; change them or delete"
                " them first."
            )

    return guard


def guard_references() -> None:
    """What a form names stays: deleting a group, tag or custom field that a form names
    is a 409 naming the forms. Registered once per process (`activecommerce.wiring`)."""
    contact_groups.guard_delete(_refuse_if_named(contact_groups.title, "group"))
    contact_tags.guard_delete(_refuse_if_named(contact_tags.title, "tag"))
    contact_fields.guard_delete(_refuse_if_named(contact_fields.title, "field"))


# ---------------------------------------------------------------- reads


def hosted_url(base: str, public_id: str) -> str:
    return f"{base.rstrip('/')}/f/{public_id}"


def embed_html(form: dict[str, Any], base: str, labels: dict[str, str]) -> str:
    """A plain HTML form posting to the hosted page: no script, no style, any site."""
    action = escape(hosted_url(base, form["publicId"]))
    lines = [f'<form method="post" action="{action}" accept-charset="utf-8">']
    for asked in [{"key": "email", "required": True}, *form["fields"]]:
        key = asked["key"]
        kind = "email" if key == "email" else ("tel" if key == "phone" else "text")
        need = " required" if asked["required"] else ""
        name = escape(key)
        lines.append(
            f'  <p><label for="ac-{name}">{escape(labels.get(key, key))}</label><br>'
            f'<input id="ac-{name}" name="{name}" type="{kind}"{need}></p>'
        )
    lines.append(
        f'  <p style="position:absolute;left:-10000px" aria-hidden="true"><input name="{HONEYPOT}"'
        ' tabindex="-1" autocomplete="off"></p>'
    )
    lines.append('  <p><button type="submit">Subscribe</button></p>')
    lines.append("</form>")
    return "\n".join(lines)


async def labels_of(db: Database, principal: Principal, form: dict[str, Any]) -> dict[str, str]:
    """What each asked field is called on the page (a custom field by its name)."""
    defs = await definitions(db, principal)
    labels = dict(LABELS)
    for key, definition in defs.items():
        labels[f"fields.{key}"] = definition.name
    return labels


async def embed(db: Database, principal: Principal, form_id: str, base: str) -> dict[str, str]:
    form = await forms.present_row(db, principal, await forms.get_row(db, principal, form_id))
    return {
        "url": hosted_url(base, form["publicId"]),
        "html": embed_html(form, base, await labels_of(db, principal, form)),
    }


async def stats(db: Database, principal: Principal, form_id: str) -> dict[str, Any]:
    row = await forms.get_row(db, principal, form_id)
    submitted, confirmed = await repository.stats(Scoped(db, principal), int(row["id"]))
    return {
        "submissions": submitted,
        "confirmed": confirmed,
        "conversion": round(confirmed / submitted, 4) if submitted else 0.0,
    }


def submission_view(row: Row) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "formId": str(row["form_id"]),
        "contactId": None if row["contact_id"] is None else str(row["contact_id"]),
        "email": row["email"],
        "data": orjson.loads(row["data"]),
        "status": row["status"],
        "confirmedAt": row["confirmed_at"],
        "createdAt": row["created_at"],
    }


async def submissions(
    db: Database, principal: Principal, form_id: str, page: int, page_size: int
) -> dict[str, Any]:
    row = await forms.get_row(db, principal, form_id)
    total, rows = await repository.submissions_page(
        Scoped(db, principal), int(row["id"]), page_size, (page - 1) * page_size
    )
    return dict(envelope([submission_view(r) for r in rows], page, page_size, total))


async def by_public_id(db: Database, public_id: str) -> Row | None:
    if not (0 < len(public_id) <= 64):
        return None
    return await repository.system_by_public_id(db, public_id)


def principal_of(form: Row) -> Principal:
    return Principal.acting_for(int(form["account_id"]), str(form["env"]))


def asked_of(form: Row) -> list[dict[str, Any]]:
    return [{"key": "email", "required": True}, *orjson.loads(form["fields"])]


# ---------------------------------------------------------------- a submission


@dataclass
class Answers:
    """A submission read: the address, the contact's details (firstName, lastName,
    phone, fields), what was sent as text (shown again with the errors), the errors."""

    email: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    sent: dict[str, str] = field(default_factory=dict)
    errors: list[dict[str, str]] = field(default_factory=list)


def read_answers(form: Row, raw: dict[str, list[Any]], defs: dict[str, FieldDef]) -> Answers:
    """The form's fields among `raw` (name -> every value sent; a JSON body's typed
    values, or a form's strings): each checked as its field takes it. Other names are
    ignored."""
    out = Answers()
    custom: dict[str, Any] = {}
    for asked in asked_of(form):
        key = str(asked["key"])
        sent = [v for v in raw.get(key, []) if v is not None and v != ""]
        out.sent[key] = ", ".join(str(v) for v in sent)[:MAX_ANSWER]
        if not sent:
            if asked["required"]:
                out.errors.append({"field": key, "message": "is required"})
            continue
        value = sent[0]
        if key.startswith("fields."):
            definition = defs.get(key[7:])
            if definition is None:
                continue  # the field was deleted since: not asked any more
            try:
                if definition.type == "multiselect":
                    chosen = sent if all(isinstance(v, str) for v in sent) else value
                    custom[definition.key] = values.check(definition, chosen)
                elif isinstance(value, str):
                    custom[definition.key] = values.parse_text(definition, value)
                else:
                    custom[definition.key] = values.check(definition, value)
            except values.BadValue as exc:
                out.errors.append({"field": key, "message": str(exc)})
            continue
        if not isinstance(value, str):
            out.errors.append({"field": key, "message": "must be text"})
            continue
        text = value.strip()
        if key == "email":
            if len(text) > 254 or "@" not in text or any(c.isspace() for c in text):
                out.errors.append({"field": key, "message": "must be an email address"})
            out.email = text
            continue
        if len(text) > 255 or any(ord(c) < 32 or ord(c) == 127 for c in text):
            out.errors.append(
                {"field": key, "message": "must be one line of at most 255 characters"}
            )
            continue
        out.details[key] = text
    if custom:
        out.details["fields"] = custom
    if out.email and not any(e["field"] == "email" for e in out.errors):
        message = subscription.address_error(out.email)
        if message:
            out.errors.append({"field": "email", "message": message})
    return out


@dataclass(frozen=True)
class Submitted:
    submission_id: int
    confirming: bool  # a confirmation email was asked for (else subscribed at once)


async def submit(
    db: Database,
    form: Row,
    answers: Answers,
    *,
    ip: str | None,
    user_agent: str | None,
    mail: bool = True,
) -> Submitted:
    """Record the submission (answers already checked: `read_answers`) and do what the
    form says: a confirmation email (`mail` False: the address had too many of them
    lately, none more is sent), or the subscription at once. A 422 Problem when a value
    is not what the account's fields take (nothing is written then)."""
    principal = principal_of(form)
    form_id = int(form["id"])
    data = {"email": answers.email, **answers.details}
    ua = (user_agent or "")[:512] or None
    async with db.transaction() as conn:
        scope = Scoped(conn, principal)
        # The address first (every write that may list it or make it mailable takes it
        # before its rows): what is read below stays true until the commit.
        await consent.lock_addresses(conn, [answers.email])
        contact = await subscription.locked_by_email(conn, principal, answers.email)
        entry = await consent.suppression_of(conn, principal, answers.email)
        stopped = entry is not None or (
            contact is not None and contact["status"] in consent.STOPPED
        )
        fresh = contact is None
        if contact is None:
            contact_id = await subscription.create_pending(
                conn, principal, answers.email, answers.details, entry
            )
        else:
            contact_id = int(contact["id"])
        if not form["double_opt_in"] and not stopped:
            submission_id = await repository.insert_submission(
                scope, form_id, contact_id, answers.email, data, ip, ua, "confirmed"
            )
            await subscription.subscribe(
                conn,
                principal,
                contact_id,
                {} if fresh else answers.details,
                form_id=form_id,
                group_ids=orjson.loads(form["group_ids"]),
                tag_ids=orjson.loads(form["tag_ids"]),
                ip=ip,
                user_agent=ua,
            )
            return Submitted(submission_id, confirming=False)
        submission_id = await repository.insert_submission(
            scope, form_id, contact_id, answers.email, data, ip, ua, "pending"
        )
        if mail:
            await queue.enqueue(
                conn,
                MAIL,
                {"submission": submission_id},
                account_id=principal.account_id,
                lane=f"form:{form_id}",
            )
    return Submitted(submission_id, confirming=True)


# ---------------------------------------------------------------- the confirmation


@dataclass(frozen=True)
class Confirmation:
    """What a confirmation link's page shows: `state` pending (the button), done
    (confirmed before, or just now), stale (predates a withdrawal, or expired)."""

    state: str
    submission: Row


async def confirmation(db: Database, submission_id: int, retention_days: float) -> Confirmation:
    row = await repository.system_submission(db, submission_id)
    if row is None:
        raise not_found("confirmation")
    return Confirmation(await _state(db, row, retention_days), row)


async def _state(db: Database | Connection, row: Row, retention_days: float) -> str:
    if row["status"] == "confirmed":
        return "done"
    if str(row["created_at"]) < after(-retention_days * 86400):
        return "stale"
    principal = Principal.acting_for(int(row["account_id"]), str(row["env"]))
    contact_id = None if row["contact_id"] is None else int(row["contact_id"])
    if await consent.withdrawn_since(
        db, principal, contact_id, str(row["email"]), str(row["created_at"])
    ):
        return "stale"
    return "pending"


async def confirm(
    db: Database,
    submission_id: int,
    *,
    ip: str | None,
    user_agent: str | None,
    retention_days: float,
) -> Confirmation:
    """The person confirmed (a POST of the link's page): subscribed, once."""
    row = await repository.system_submission(db, submission_id)
    if row is None:
        raise not_found("confirmation")
    principal = Principal.acting_for(int(row["account_id"]), str(row["env"]))
    if row["email"] is None:  # its person was erased
        raise not_found("confirmation")
    async with db.transaction() as conn:
        scope = Scoped(conn, principal)
        await consent.lock_addresses(conn, [str(row["email"])])  # before any row (submit)
        locked = await repository.locked_submission(scope, submission_id)
        if locked is None:
            raise not_found("confirmation")
        state = await _state(conn, locked, retention_days)
        if state != "pending":
            return Confirmation(state, row)
        address = str(row["email"])
        data = orjson.loads(row["data"])
        details = {k: v for k, v in data.items() if k != "email"}
        contact = await subscription.locked_by_email(conn, principal, address)
        if contact is None:  # deleted since (pruned, or by the account): made again
            contact_id = await subscription.create_pending(conn, principal, address, details)
        else:
            contact_id = int(contact["id"])
        await subscription.subscribe(
            conn,
            principal,
            contact_id,
            details,
            form_id=int(row["form_id"]),
            group_ids=orjson.loads(row["group_ids"]),
            tag_ids=orjson.loads(row["tag_ids"]),
            ip=ip,
            user_agent=(user_agent or "")[:512] or None,
        )
        await repository.mark_confirmed(scope, submission_id, contact_id)
    return Confirmation("done", row)


# ---------------------------------------------------------------- retention


async def prune_unconfirmed(db: Database, older_than_days: float, batch: int = 50) -> int:
    """Delete contacts still `unconfirmed` made more than `older_than_days` ago, in small
    transactions (each with the contact.deleted event); how many."""
    cutoff = after(-older_than_days * 86400)
    pruned = 0
    for account_id, env in await repository.system_tenants(db):
        principal = Principal.acting_for(account_id, env)
        while True:
            rows = await repository.unconfirmed_before(Scoped(db, principal), cutoff, batch)
            for row in rows:
                async with db.transaction() as conn:
                    if await subscription.delete_if_unconfirmed(conn, principal, int(row["id"])):
                        pruned += 1
            if len(rows) < batch:
                break
    return pruned
