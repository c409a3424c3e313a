"""Alembic environment: the same migrations for SQLite and PostgreSQL."""

from alembic import context
from sqlalchemy import create_engine, event, pool

from activecommerce.kit.db import register_functions
from activecommerce.models import metadata

config = context.config


def run() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url
    engine = create_engine(url, poolclass=pool.NullPool)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", lambda conn, _record: register_functions(conn))
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run()
