"""Alembic environment: runs against the URL or connection that `predeploy.migrate` passes in."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from predeploy.all_models import metadata
from predeploy.db import make_engine
from predeploy.migrate import include_object


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(context.config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


run_migrations_online()
