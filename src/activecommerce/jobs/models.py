from sqlalchemy import Column, Index, Integer, String, Table, Text

from activecommerce.kit.events import events
from activecommerce.kit.tables import IdType, id_column, metadata

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
    # Fairness and order (migration 0003): the account the job works for (None for work
    # of no account), its lane (e.g. "webhook:12": one receiver), whose in-flight jobs a
    # worker caps, and the chain it belongs to (one webhook and one object): only the
    # chain's oldest job may be claimed.
    Column("account_id", IdType),
    Column("lane", String(64)),
    Column("order_key", String(160)),
    # The event the job delivers: an event is not pruned while a job still needs it.
    Column("event_id", IdType),
    sqlite_autoincrement=True,  # ids are never reused
)
# Claiming reads due jobs in run_at order.
Index("ix_jobs_due", jobs.c.run_at, jobs.c.id)
# "Is there an older job of this chain?": one index probe per candidate.
Index("ix_jobs_order_key", jobs.c.order_key, jobs.c.id)
Index("ix_jobs_event_id", jobs.c.event_id)

# Pruning old events (jobs/retention.py).
Index("ix_events_created_at", events.c.created_at)  # retention: the oldest first
