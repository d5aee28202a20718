"""The migrations build exactly the tables the code declares, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect

from predeploy.db import make_engine
from predeploy.migrate import alembic_config, pending_changes, upgrade


def test_migrated_schema_matches_the_models(db_url: str) -> None:
    assert pending_changes(db_url) == []


def test_downgrade_to_nothing_and_back_again(db_url: str) -> None:
    command.downgrade(alembic_config(db_url), "base")
    engine = make_engine(db_url)
    try:
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()
    upgrade(db_url)
    assert pending_changes(db_url) == []


def test_upgrade_is_idempotent(db_url: str) -> None:
    upgrade(db_url)
    upgrade(db_url)
    assert pending_changes(db_url) == []
