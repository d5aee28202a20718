"""Sign-in, sessions and CSRF, in real Chromium and over plain HTTP."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Page, expect

from .browser import check_page, sign_in
from .conftest import Site


def test_signing_in_lands_on_the_dashboard_and_signing_out_ends_the_session(
    page: Page, site: Site
) -> None:
    page.goto("/submissions")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fsubmissions$"))
    check_page(page, "login")
    page.get_by_label("Email").fill(site.evaluator.email)
    page.get_by_label("Password").fill(site.evaluator.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/submissions$"))
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login"))


def test_a_wrong_password_is_refused_without_saying_which_field(page: Page, site: Site) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(site.evaluator.email)
    page.get_by_label("Password").fill("not the password at all")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("wrong email or password")
    check_page(page, "login-failed")


def test_session_cookie_is_httponly_and_strict(page: Page, site: Site) -> None:
    sign_in(page, site.submitter.email, site.submitter.password)
    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies["predeploy_session"]
    assert session["httpOnly"] is True
    assert session["sameSite"] == "Strict"


def test_a_post_without_the_csrf_token_is_refused(site: Site) -> None:
    with httpx.Client(base_url=site.url) as http:
        form = http.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token is not None
        signed_in = http.post(
            "/login",
            data={
                "email": site.submitter.email,
                "password": site.submitter.password,
                "csrf_token": token.group(1),
            },
        )
        assert signed_in.status_code == 303
        refused = http.post("/logout")
        assert refused.status_code == 403
        assert "security token" in refused.text
        assert http.get("/", follow_redirects=False).status_code == 200
