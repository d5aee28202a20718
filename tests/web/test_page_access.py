"""Every page route: who may open it without signing in, CSRF on every change, the security
headers, and no open redirect after sign-in. Plain HTTP (no browser), on every backend."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.routing import APIRoute
from sqlalchemy import func, select

from predeploy.accounts import Actor
from predeploy.accounts.schemas import UserCreate
from predeploy.accounts.service import create_user
from predeploy.accounts.sessions import csrf_token, sign_in
from predeploy.audit.models import AuditEvent
from predeploy.web import is_page

from ..conftest import Api

PUBLIC_PAGES = {
    "/login",
    "/advisories",
    "/advisories/{advisory_id}",
    "/reports/verify",
}
"""Pages anyone may open without signing in; every other page sends them to /login."""

PASSWORD = "a long enough passphrase"


def _page_routes(api: Api) -> list[tuple[str, str]]:
    found: set[tuple[str, str]] = set()

    def walk(routes: Any) -> None:
        for route in routes:
            nested = getattr(route, "effective_candidates", None)
            if nested is not None:
                walk(nested())
                continue
            original = getattr(route, "original_route", route)
            if isinstance(original, APIRoute) and is_page(original.path):
                for method in original.methods - {"HEAD"}:
                    found.add((method, original.path))

    walk(api.http.app.routes)  # type: ignore[attr-defined]
    return sorted(found)


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "00000000-0000-0000-0000-000000000000", path)


def _signed_in(api: Api) -> str:
    """Sign the agency admin's colleague in and give the client the session cookie."""
    with api.runtime.unit(Actor.system("test")) as ctx:
        create_user(
            ctx,
            UserCreate(email="eve@agency.example", org_id=api.agency_admin.org_id, roles=["admin"]),
            password=PASSWORD,
        )
        cookie = sign_in(ctx, "eve@agency.example", PASSWORD).cookie
    api.http.cookies.set("predeploy_session", cookie)
    return cookie


def _audit_events(api: Api) -> int:
    with api.runtime.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(AuditEvent)) or 0)


def test_only_the_public_pages_open_without_signing_in(api: Api) -> None:
    opened = set()
    for method, path in _page_routes(api):
        if method != "GET":
            continue
        response = api.http.get(_concrete(path), follow_redirects=False)
        assert response.status_code != 500, path
        if response.status_code == 303:
            assert response.headers["location"].startswith("/login?next=%2F"), path
        else:
            opened.add(path)
    assert opened == PUBLIC_PAGES


def test_every_change_needs_the_sessions_csrf_token(api: Api) -> None:
    cookie = _signed_in(api)
    before = _audit_events(api)
    changes = [(m, p) for m, p in _page_routes(api) if m != "GET"]
    assert ("POST", "/logout") in changes
    for method, path in changes:
        url = _concrete(path)
        missing = api.http.request(method, url, data={"anything": "x"})
        assert missing.status_code == 403, (method, path, missing.status_code)
        wrong = api.http.request(method, url, data={"csrf_token": csrf_token("another session")})
        assert wrong.status_code == 403, (method, path)
        foreign = api.http.request(
            method,
            url,
            data={"csrf_token": csrf_token(cookie)},
            headers={"Origin": "https://attacker.example"},
        )
        assert foreign.status_code == 403, (method, path)
    assert _audit_events(api) == before, "a refused request changed something"
    assert api.http.get("/", follow_redirects=False).status_code == 200, "still signed in"


def test_sign_out_with_the_token_ends_the_session(api: Api) -> None:
    cookie = _signed_in(api)
    response = api.http.post(
        "/logout", data={"csrf_token": csrf_token(cookie)}, follow_redirects=False
    )
    assert response.status_code == 303
    api.http.cookies.set("predeploy_session", cookie)
    assert api.http.get("/", follow_redirects=False).status_code == 303


def test_the_login_form_needs_its_own_csrf_token(api: Api) -> None:
    _signed_in(api)
    api.http.cookies.clear()
    form = {"email": "eve@agency.example", "password": PASSWORD}
    assert api.http.post("/login", data=form, follow_redirects=False).status_code == 403
    page = api.http.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    signed_in = api.http.post(
        "/login", data=form | {"csrf_token": token.group(1)}, follow_redirects=False
    )
    assert signed_in.status_code == 303
    assert "predeploy_session" in signed_in.cookies


@pytest.mark.parametrize(
    ("target", "landing"),
    [
        ("/submissions", "/submissions"),
        ("//attacker.example/x", "/"),
        ("https://attacker.example/", "/"),
        ("/\\attacker.example", "/"),
    ],
)
def test_after_sign_in_only_this_sites_pages_are_visited(
    api: Api, target: str, landing: str
) -> None:
    _signed_in(api)
    api.http.cookies.clear()
    page = api.http.get("/login", params={"next": target})
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    response = api.http.post(
        "/login",
        data={
            "email": "eve@agency.example",
            "password": PASSWORD,
            "csrf_token": token.group(1),
            "next": target,
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == landing


def test_pages_carry_the_security_headers_and_api_errors_stay_json(api: Api) -> None:
    page = api.http.get("/login")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    missing = api.http.get("/no/such/page")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    api_missing = api.http.get("/api/v1/no/such/route")
    assert api_missing.status_code == 404
    assert api_missing.json()["error"]["code"] == "not_found"
