from sqlalchemy import BigInteger, Boolean, Column, Index, PrimaryKeyConstraint, String, Table, Text

from activecommerce.kit.tables import (
    IdType,
    id_column,
    metadata,
    tenant_columns,
    timestamp_columns,
)

contact_imports = Table(
    "contact_imports",
    metadata,
    id_column(),
    *tenant_columns(),
    # receiving (the body is still arriving; shown as queued), queued, running,
    # completed, failed.
    Column("status", String(16), nullable=False),
    Column("format", String(8), nullable=False),  # csv | ndjson
    Column("update_existing", Boolean, nullable=False),
    Column("total", BigInteger, nullable=False),
    Column("processed", BigInteger, nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("updated", BigInteger, nullable=False),
    Column("skipped", BigInteger, nullable=False),
    Column("failed", BigInteger, nullable=False),
    # The last line processed: the next batch starts after it.
    Column("position", BigInteger, nullable=False),
    Column("errors", Text, nullable=False),  # JSON: the first 100 [{line, message}]
    *timestamp_columns(),
    Column("finished_at", String(32)),
    sqlite_autoincrement=True,  # ids are never reused
)
Index(
    "ix_contact_imports_account_env",
    contact_imports.c.account_id,
    contact_imports.c.env,
    contact_imports.c.id,
)
# The worker's sweep finds uploads that stopped (status receiving, not touched for a while).
Index("ix_contact_imports_status", contact_imports.c.status, contact_imports.c.updated_at)

# An import's rows as they arrived, until they are processed (then deleted): any worker
# can process them, whichever process received the body. `data` is one contact as a
# JSON object (an NDJSON line as sent; a CSV record by column name); `error` says why a
# row could not even be read (not UTF-8, too long), and it then counts as failed.
# No foreign key on import_id: its check costs a lookup per staged row (millions), and
# the import's job deletes its rows however the import ends, even if it is gone.
contact_import_rows = Table(
    "contact_import_rows",
    metadata,
    Column("import_id", IdType, nullable=False),
    Column("line", BigInteger, nullable=False, autoincrement=False),
    Column("data", Text),
    Column("error", Text),
    PrimaryKeyConstraint("import_id", "line"),
    sqlite_with_rowid=False,  # one b-tree, in (import_id, line) order
)
