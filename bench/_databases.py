"""Databases for benchmarks: a PostgreSQL server if one is there, and throwaway databases on it."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

LOCAL_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def postgres_server(url: str | None) -> str | None:
    """The server URL to use, or None: `url`, PREDEPLOY_BENCH_POSTGRES_URL, or a local trust
    server on 127.0.0.1:5432 if one answers (a given URL that does not answer is an error)."""
    given: str | None = url or os.environ.get("PREDEPLOY_BENCH_POSTGRES_URL")
    candidate = given or LOCAL_POSTGRES
    engine = create_engine(candidate, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError:
        if given:
            raise
        return None
    finally:
        engine.dispose()
    return candidate


@contextmanager
def throwaway_database(server: str) -> Iterator[str]:
    """A fresh database on `server`, dropped afterwards."""
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    name = f"predeploy_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
