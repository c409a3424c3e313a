from sqlalchemy import Boolean, Column, Index, String, Table, Text

from activecommerce.kit.tables import id_column, metadata, tenant_columns, timestamp_columns

# An account's custom contact fields. A contact's values live in `contacts.fields` (a JSON
# object keyed by the field's id as text; docs/decisions/013-custom-fields-storage.md).
contact_fields = Table(
    "contact_fields",
    metadata,
    id_column(),
    *tenant_columns(),
    Column("name", String(255), nullable=False),
    Column("key", String(40), nullable=False),
    Column("type", String(16), nullable=False),
    Column("options", Text, info={"json": True}),  # JSON list of strings (dropdown, multiselect)
    Column("required", Boolean, nullable=False, server_default="0"),
    Column("default_value", Text, info={"json": True}),  # JSON value, typed like the field
    *timestamp_columns(),
    sqlite_autoincrement=True,  # ids are never reused
)
Index(
    "uq_contact_fields_key",
    contact_fields.c.account_id,
    contact_fields.c.env,
    contact_fields.c.key,
    unique=True,
)
Index(
    "ix_contact_fields_name",
    contact_fields.c.account_id,
    contact_fields.c.env,
    contact_fields.c.name,
)
