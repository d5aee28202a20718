"""Shared fixtures.

Tests that touch the database ask for `runtime` (or `api`, or `db_url`): they run once on SQLite
and, when `PREDEPLOY_TEST_POSTGRES_URL` is set, once more on PostgreSQL. Each test gets a fresh,
fully migrated database, copied from a template migrated once per run.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from predeploy.accounts import Actor
from predeploy.api import create_app
from predeploy.clock import FrozenClock
from predeploy.config import Settings
from predeploy.migrate import upgrade
from predeploy.runtime import Runtime

POSTGRES_URL = os.environ.get("PREDEPLOY_TEST_POSTGRES_URL")
BACKENDS = ["sqlite", "postgres"] if POSTGRES_URL else ["sqlite"]
START = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


class _PostgresTemplates:
    """Creates one migrated template database per run and a fresh copy of it per test."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = make_url(admin_url)
        self.admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        self.template = f"predeploy_tpl_{uuid.uuid4().hex[:10]}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.template}"'))
        upgrade(self.url_for(self.template))

    def url_for(self, name: str) -> str:
        return self.admin_url.set(database=name).render_as_string(hide_password=False)

    def fresh(self) -> str:
        name = f"predeploy_t_{uuid.uuid4().hex[:12]}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"'))
        return name

    def drop(self, name: str) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def close(self) -> None:
        self.drop(self.template)
        self.admin.dispose()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out the SQLite runs of `postgres_only` tests (they would prove nothing there)."""
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_sqlite = callspec is not None and callspec.params.get("db_url") == "sqlite"
        (dropped if on_sqlite and item.get_closest_marker("postgres_only") else keep).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def _postgres_templates() -> Iterator[_PostgresTemplates | None]:
    if not POSTGRES_URL:
        yield None
        return
    templates = _PostgresTemplates(POSTGRES_URL)
    yield templates
    templates.close()


@pytest.fixture(params=BACKENDS)
def db_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    _sqlite_template: Path,
    _postgres_templates: _PostgresTemplates | None,
) -> Iterator[str]:
    """URL of a fresh, migrated database (SQLite, and PostgreSQL when configured)."""
    if request.param == "sqlite":
        path = tmp_path / "predeploy.db"
        shutil.copyfile(_sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    assert _postgres_templates is not None
    name = _postgres_templates.fresh()
    yield _postgres_templates.url_for(name)
    _postgres_templates.drop(name)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=db_url)


@pytest.fixture
def runtime(settings: Settings, clock: FrozenClock) -> Iterator[Runtime]:
    rt = Runtime(settings=settings, clock=clock)
    yield rt
    assert rt.engine is not None
    rt.engine.dispose()


@dataclass
class Caller:
    """A user with a token, as tests see them."""

    token: str
    user_id: str
    org_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Api:
    """A test client on a fresh database, with the agency bootstrapped."""

    http: TestClient
    runtime: Runtime
    agency_admin: Caller

    def org(self, name: str, *capacities: str) -> str:
        response = self.http.post(
            "/api/v1/orgs",
            json={"name": name, "capacities": list(capacities)},
            headers=self.agency_admin.headers,
        )
        assert response.status_code == 201, response.text
        org_id: str = response.json()["id"]
        return org_id

    def user(self, org_id: str, *roles: str, email: str | None = None) -> Caller:
        """Create a user with `roles` in `org_id` and return them with a fresh token."""
        from predeploy.accounts.schemas import TokenCreate
        from predeploy.accounts.service import issue_token

        email = email or f"{uuid.uuid4().hex[:8]}@example.org"
        response = self.http.post(
            "/api/v1/users",
            json={"email": email, "org_id": org_id, "roles": list(roles)},
            headers=self.agency_admin.headers,
        )
        assert response.status_code == 201, response.text
        user_id = response.json()["id"]
        with self.runtime.unit(Actor.system("test")) as ctx:
            token = issue_token(ctx, TokenCreate(user_id=user_id)).token
        return Caller(token=token, user_id=user_id, org_id=org_id)


@pytest.fixture
def api(runtime: Runtime) -> Iterator[Api]:
    """HTTP client on a fresh database with the agency and its admin bootstrapped."""
    from predeploy.accounts.service import bootstrap

    with runtime.unit(Actor.system("test")) as ctx:
        result = bootstrap(ctx, "Testing Agency", "admin@agency.example")
    with TestClient(create_app(runtime), raise_server_exceptions=False) as http:
        yield Api(
            http=http,
            runtime=runtime,
            agency_admin=Caller(result.token, result.user_id, result.org_id),
        )
