from sqlalchemy import Column, Index, Integer, String, Table, Text

from activecommerce.kit.tables import id_column, metadata

jobs = Table(
    "jobs",
    metadata,
    id_column(),
    Column("kind", String(64), nullable=False),
    Column("payload", Text, nullable=False),
    Column("run_at", String(32), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("locked_until", String(32)),
    Column("locked_by", String(64)),
    Column("created_at", String(32), nullable=False),
    sqlite_autoincrement=True,  # ids are never reused
)
# Claiming reads due jobs in run_at order.
Index("ix_jobs_due", jobs.c.run_at, jobs.c.id)
