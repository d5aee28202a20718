"""Database engine, sessions and the declarative base shared by every area's tables.

SQLite (embedded default) and PostgreSQL (scaled deployments) must behave the same: datetimes are
always timezone-aware UTC, foreign keys are enforced, and on SQLite every transaction takes the
write lock up front so that concurrent writers queue instead of failing half-way.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Engine, MetaData, String, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always read back timezone-aware.

    SQLite has no timezone type, so naive values are refused on the way in and UTC is attached
    on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base for every table in predeploy."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[str]: JSON()}


def upsert_insert(dialect: Dialect) -> Any:
    """The dialect's `insert` construct, which has `on_conflict_do_nothing` / `_do_update`
    (PostgreSQL's and SQLite's share that API; the generic one has neither)."""
    return postgresql.insert if dialect.name == "postgresql" else sqlite.insert


def new_id() -> str:
    """A new random primary key (UUID4 text: unguessable, so ids leak nothing about volume)."""
    return str(uuid.uuid4())


ID = String(36)

READ_ONLY_OPTION = "predeploy_read_only"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine with predeploy's per-dialect settings."""
    # HTTP requests hold at most `http_threads` sessions at once (see web_deps); the pool leaves
    # room above that for the scheduler thread and for a larger `http_threads` setting.
    kwargs = {"pool_size": 10, "max_overflow": 30} | kwargs
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs
        )
        _configure_sqlite(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy issue BEGIN itself (below) instead of pysqlite's implicit deferred BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        # Overwrite freed pages, so a destroyed model key does not linger in the file.
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # IMMEDIATE takes the write lock at BEGIN: a read-then-write transaction can then never
        # fail on upgrade, and the audit chain's head cannot change under a writer. Read-only
        # sessions (see `read_only`) begin deferred so that readers never wait for writers.
        if connection.get_execution_options().get(READ_ONLY_OPTION):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_session_factory(engine: Engine, *, read_only: bool = False) -> sessionmaker[Session]:
    """A session factory bound to `engine` (objects stay usable after commit).

    `read_only` sessions are for requests that change nothing: on SQLite they do not take the
    write lock; on PostgreSQL each reads one consistent snapshot.
    """
    if read_only:
        options: dict[str, Any] = {READ_ONLY_OPTION: True}
        if engine.dialect.name == "postgresql":
            # One snapshot for all of a read's queries: under READ COMMITTED a commit between two
            # of them (a worker ending a job) would show, e.g., a campaign half in one state and
            # half in the next. Read-only transactions never fail to serialise. (SQLite's read
            # transactions are snapshots already.)
            options["isolation_level"] = "REPEATABLE READ"
        engine = engine.execution_options(**options)
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit if the block succeeds, roll everything back if it raises."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def append_only_statements(dialect_name: str, table: str) -> list[str]:
    """DDL for triggers that make `table` append-only: UPDATE, DELETE (and TRUNCATE) fail."""
    if dialect_name == "sqlite":
        return [
            f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            for verb in ("UPDATE", "DELETE")
        ]
    if dialect_name == "postgresql":
        return [
            "CREATE OR REPLACE FUNCTION predeploy_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'table % is append-only', TG_TABLE_NAME; END $$",
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION predeploy_append_only()",
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION predeploy_append_only()",
        ]
    raise ValueError(f"no append-only triggers for dialect {dialect_name}")
