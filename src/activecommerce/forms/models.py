from sqlalchemy import Boolean, Column, Index, String, Table, Text

from activecommerce.kit.tables import (
    id_column,
    metadata,
    ref_column,
    tenant_columns,
    timestamp_columns,
)

# Signup forms: a hosted page at /f/{public_id} and an embeddable snippet.
forms = Table(
    "forms",
    metadata,
    id_column(),
    *tenant_columns(),
    # Random, unguessable, the same in every environment's URL space: unique server-wide.
    Column("public_id", String(32), nullable=False),
    Column("name", String(255), nullable=False),
    Column("fields", Text, nullable=False, info={"json": True}),  # [{key, required}]
    Column("group_ids", Text, nullable=False, info={"json": True}),  # [id as text]
    Column("tag_ids", Text, nullable=False, info={"json": True}),  # [id as text]
    Column("double_opt_in", Boolean, nullable=False, server_default="1"),
    # {subject, htmlContent, brandId}, or NULL for the default
    Column("confirmation_email", Text, info={"json": True}),
    Column("success_message", Text),
    Column("redirect_url", Text),
    *timestamp_columns(),
    sqlite_autoincrement=True,  # ids are never reused
)
Index("uq_forms_public_id", forms.c.public_id, unique=True)
Index("ix_forms_name", forms.c.account_id, forms.c.env, forms.c.name)

# One row per submission of a form: what was sent, from where, and whether it was
# confirmed (pending, confirmed). Its contact link is cut when the contact is deleted.
form_submissions = Table(
    "form_submissions",
    metadata,
    id_column(),
    *tenant_columns(),
    ref_column("form_id", "forms", "CASCADE", nullable=False),
    ref_column("contact_id", "contacts", "SET NULL"),
    Column("email", String(254)),
    Column("data", Text, nullable=False, info={"json": True}),  # the fields sent
    Column("ip", String(64)),
    Column("user_agent", String(512)),
    Column("status", String(16), nullable=False),
    Column("confirmed_at", String(32)),
    *timestamp_columns(),
    sqlite_autoincrement=True,
)
Index("ix_form_submissions_form", form_submissions.c.form_id, form_submissions.c.id)
Index("ix_form_submissions_contact", form_submissions.c.contact_id)
