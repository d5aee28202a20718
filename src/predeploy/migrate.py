"""Schema migrations: `upgrade` to the newest revision, `pending_changes` to compare models and schema."""

from __future__ import annotations

import re
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext

from .all_models import metadata
from .db import make_engine

# Full-text search objects, made by raw DDL in migration 0008: no table model can declare them
# (an FTS5 virtual table and its shadow tables on SQLite; an expression GIN index on PostgreSQL).
_RAW_DDL_OBJECTS = re.compile(r"^(vulns_fts(_[a-z]+)?|ix_vulns_fulltext)$")


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Whether Alembic compares a schema object with the models (raw-DDL search objects: no)."""
    return not (reflected and name is not None and _RAW_DDL_OBJECTS.match(name))


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", "predeploy:migrations")
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` up to `revision`."""
    command.upgrade(alembic_config(url), revision)


def pending_changes(url: str) -> list[Any]:
    """Differences between the tables in code and the migrated schema (empty when they agree)."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "include_object": include_object}
            )
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()
