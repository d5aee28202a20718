"""A real server on 127.0.0.1 (uvicorn in a thread) with people who can sign in, and real
Chromium to drive it.

Browser tests run on SQLite only: what they prove is the pages, and the pages reach the
database only through the services, which every other test runs on PostgreSQL too.
"""

from __future__ import annotations

import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from predeploy.accounts import Actor
from predeploy.accounts.schemas import OrgCreate, TokenCreate, UserCreate
from predeploy.accounts.service import bootstrap, create_org, create_user, issue_token
from predeploy.api import create_app
from predeploy.clock import FrozenClock
from predeploy.config import Settings
from predeploy.runtime import Runtime

from .browser import CHROMIUM_ARGS, chromium_path, sign_in


@dataclass(frozen=True)
class Person:
    """Someone who signs in: their email, password, ids, and an API token for set-up calls."""

    email: str
    password: str
    user_id: str
    org_id: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Site:
    """The running server, its runtime and clock, and one person per kind of user."""

    url: str
    runtime: Runtime
    clock: FrozenClock
    agency_admin: Person
    evaluator: Person
    analyst: Person
    submitter: Person
    """An AI company's submitter (org `Frontier Labs`, developer)."""
    vendor: Person
    """A member of a vendor org (`Acme Software`)."""
    outsider: Person
    """A member of another participant org (`Bystander Corp`): sees no case it is not in."""
    developer_org: str
    vendor_org: str
    outsider_org: str

    def person(
        self, org_id: str, *roles: str, email: str | None = None, password: str | None = None
    ) -> Person:
        """Add a user with a password and an API token."""
        password = password or secrets.token_urlsafe(16)
        email = email or f"{secrets.token_hex(4)}@example.org"
        with self.runtime.unit(Actor.system("test")) as ctx:
            user = create_user(
                ctx, UserCreate(email=email, org_id=org_id, roles=list(roles)), password=password
            )
            token = issue_token(ctx, TokenCreate(user_id=user.id)).token
        return Person(email, password, user.id, org_id, token)


def _serve(runtime: Runtime) -> tuple[uvicorn.Server, threading.Thread, str]:
    config = uvicorn.Config(
        create_app(runtime),
        host="127.0.0.1",
        port=0,
        log_level="warning",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, thread, f"http://127.0.0.1:{port}"


@pytest.fixture
def site(tmp_path: Path, _sqlite_template: Path) -> Iterator[Site]:
    database = tmp_path / "predeploy.db"
    shutil.copyfile(_sqlite_template, database)
    clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    runtime = Runtime(
        settings=Settings(data_dir=tmp_path / "data", database_url=f"sqlite:///{database}"),
        clock=clock,
    )
    admin_password = secrets.token_urlsafe(16)
    with runtime.unit(Actor.system("test")) as ctx:
        result = bootstrap(ctx, "Testing Agency", "admin@agency.example", admin_password)
        developer = create_org(ctx, OrgCreate(name="Frontier Labs", capacities=["developer"]))
        vendor = create_org(ctx, OrgCreate(name="Acme Software", capacities=["vendor"]))
        outsider = create_org(ctx, OrgCreate(name="Bystander Corp", capacities=["participant"]))
    server, thread, url = _serve(runtime)
    agency_admin = Person(
        "admin@agency.example",
        admin_password,
        result.user_id,
        result.org_id,
        result.token,
    )
    partial = Site(
        url=url,
        runtime=runtime,
        clock=clock,
        agency_admin=agency_admin,
        evaluator=agency_admin,
        analyst=agency_admin,
        submitter=agency_admin,
        vendor=agency_admin,
        outsider=agency_admin,
        developer_org=developer.id,
        vendor_org=vendor.id,
        outsider_org=outsider.id,
    )
    partial.evaluator = partial.person(result.org_id, "evaluator", email="eve@agency.example")
    partial.analyst = partial.person(result.org_id, "analyst", email="ana@agency.example")
    partial.submitter = partial.person(developer.id, "submitter", email="sam@frontier.example")
    partial.vendor = partial.person(vendor.id, "member", email="val@acme.example")
    partial.outsider = partial.person(outsider.id, "member", email="otto@bystander.example")
    try:
        yield partial
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        assert runtime.engine is not None
        runtime.engine.dispose()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def context(browser: Browser, site: Site) -> Iterator[BrowserContext]:
    context = browser.new_context(base_url=site.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


SignedIn = Callable[[Person], Page]
"""Opens a browser window of its own for a person, signed in."""


@pytest.fixture
def signed_in(browser: Browser, site: Site) -> Iterator[SignedIn]:
    """Opens a browser of its own for each person, signed in."""
    contexts = []

    def open_as(person: Person) -> Page:
        context = browser.new_context(base_url=site.url, viewport={"width": 1280, "height": 900})
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        sign_in(page, person.email, person.password)
        return page

    yield open_as
    for context in contexts:
        context.close()
