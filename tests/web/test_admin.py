"""The admin pages in real Chromium: organisations, users with a first password, API tokens
shown once; and who may open them."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from .browser import check_page, sign_in
from .conftest import Site

PASSWORD = "correct horse battery staple"


def test_the_agency_admin_creates_an_organisation_and_a_user_who_can_sign_in(
    page: Page, site: Site
) -> None:
    sign_in(page, site.agency_admin.email, site.agency_admin.password)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Admin").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Admin")
    check_page(page, "admin-overview")

    page.get_by_role("link", name="Organisations").click()
    expect(page.get_by_role("link", name="Frontier Labs")).to_be_visible()
    check_page(page, "admin-orgs")
    page.get_by_label("Name").fill("Zephyr Models")
    page.get_by_label("developer").check()
    page.get_by_label("vendor").check()
    page.get_by_role("button", name="Create organisation").click()
    expect(page).to_have_url(re.compile(r"/admin/orgs/[0-9a-f-]{36}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Zephyr Models")
    expect(page.locator("dl.facts")).to_contain_text("developer, vendor")

    page.get_by_role("link", name="Add a user to Zephyr Models").click()
    expect(page.get_by_label("Organisation")).to_have_value(re.compile(r".+"))
    expect(page.get_by_label("Organisation").locator("option:checked")).to_have_text(
        "Zephyr Models"
    )
    check_page(page, "admin-users")
    page.get_by_label("Email").fill("zoe@zephyr.example")
    page.get_by_label("Display name (optional)").fill("Zoe")
    page.get_by_label("evaluator").check()
    page.get_by_label("First password (optional)").fill(PASSWORD)
    page.get_by_role("button", name="Add user").click()
    # A role the organisation's capacities do not allow: the form comes back, filled in, but
    # without the password.
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("evaluator not available")
    expect(page.get_by_label("Email")).to_have_value("zoe@zephyr.example")
    expect(page.get_by_label("evaluator")).to_be_checked()
    expect(page.get_by_label("First password (optional)")).to_have_value("")
    expect(page.locator("fieldset", has_text="Roles")).to_have_attribute("aria-invalid", "true")
    check_page(page, "admin-users-error")

    page.get_by_label("evaluator").uncheck()
    page.get_by_label("submitter").check()
    page.get_by_label("First password (optional)").fill(PASSWORD)
    page.get_by_role("button", name="Add user").click()
    expect(page.get_by_role("status")).to_have_text(
        "Added zoe@zephyr.example with the role submitter."
    )
    users = page.get_by_role("table")
    expect(users).to_contain_text("zoe@zephyr.example")
    expect(users).to_contain_text("Zoe")
    check_page(page, "admin-org")

    page.goto("/admin/users")
    expect(page.get_by_role("table")).to_contain_text("zoe@zephyr.example")
    expect(page.get_by_role("table")).to_contain_text(site.vendor.email)

    page.context.clear_cookies()
    sign_in(page, "zoe@zephyr.example", PASSWORD)
    expect(page.locator("#submissions")).to_contain_text("no submission in progress")


def test_a_short_password_is_refused_and_never_sent_back(page: Page, site: Site) -> None:
    sign_in(page, site.agency_admin.email, site.agency_admin.password)
    page.goto("/admin/users")
    token = page.locator("form[action='/admin/users'] input[name=csrf_token]").get_attribute(
        "value"
    )
    assert token
    # The browser's own minlength check is bypassed: the service is what refuses it.
    form: dict[str, str | float | bool] = {
        "csrf_token": token,
        "email": "short@frontier.example",
        "org_id": site.developer_org,
        "roles": "submitter",
        "password": "tooshort-1",
    }
    response = page.request.post("/admin/users", form=form, max_redirects=0)
    assert response.status == 422
    body = response.text()
    assert "password must be at least 12 characters" in body
    assert "tooshort-1" not in body
    assert 'value="short@frontier.example"' in body
    page.context.clear_cookies()
    page.goto("/login")
    page.get_by_label("Email").fill("short@frontier.example")
    page.get_by_label("Password").fill("tooshort-1")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("wrong email or password")


def test_a_token_is_shown_once_works_and_stops_working_when_revoked(page: Page, site: Site) -> None:
    sign_in(page, site.agency_admin.email, site.agency_admin.password)
    page.goto("/admin/tokens")
    check_page(page, "admin-tokens")
    page.get_by_label("Name").fill("nightly export")
    page.get_by_label("admin").uncheck()
    page.get_by_label("Expires after (days)").fill("7")
    page.get_by_role("button", name="Issue token").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Token issued")
    expect(page.get_by_role("alert")).to_contain_text("shown only this once")
    secret = page.locator("#token-secret").inner_text().strip()
    assert re.fullmatch(r"pdp_[0-9a-f]{12}_[\w-]+", secret)
    expect(page.locator("dl.facts")).to_contain_text("read, write")
    check_page(page, "admin-token-issued")

    with httpx.Client(base_url=site.url, headers={"Authorization": f"Bearer {secret}"}) as http:
        assert http.get("/api/v1/orgs").status_code == 200
        # Without the admin scope it cannot mint or manage accounts.
        assert (
            http.post("/api/v1/orgs", json={"name": "X", "capacities": ["vendor"]}).status_code
            == 403
        )

        page.goto("/admin/tokens")
        assert secret not in page.content()
        row = page.get_by_role("row").filter(has_text="nightly export")
        expect(row).to_contain_text(f"pdp_{secret.split('_')[1]}_…")
        expect(row).to_contain_text("you")
        row.get_by_role("button", name="Revoke nightly export").click()
        expect(page.get_by_role("status")).to_contain_text("Revoked the token nightly export")
        expect(page.get_by_role("row").filter(has_text="nightly export")).to_contain_text("revoked")
        assert http.get("/api/v1/orgs").status_code == 401


def test_a_token_form_error_keeps_the_input(page: Page, site: Site) -> None:
    sign_in(page, site.agency_admin.email, site.agency_admin.password)
    page.goto("/admin/tokens")
    page.get_by_label("Name").fill("no scopes")
    for scope in ("read", "write", "admin"):
        page.get_by_label(scope, exact=True).uncheck()
    page.get_by_role("button", name="Issue token").click()
    expect(page.get_by_role("alert")).to_contain_text("scopes must be a non-empty subset")
    expect(page.get_by_label("Name")).to_have_value("no scopes")
    expect(page.locator("#token-secret")).to_have_count(0)


@pytest.mark.parametrize("who", ["evaluator", "submitter", "vendor"])
def test_people_who_are_not_admins_cannot_open_the_admin_pages(
    page: Page, site: Site, who: str
) -> None:
    person = getattr(site, who)
    sign_in(page, person.email, person.password)
    expect(page.get_by_role("navigation", name="Main")).not_to_contain_text("Admin")
    for path in (
        "/admin",
        "/admin/orgs",
        f"/admin/orgs/{person.org_id}",
        "/admin/users",
        "/admin/tokens",
    ):
        response = page.goto(path)
        assert response is not None and response.status == 403, path
        expect(page.get_by_role("alert")).to_have_text("only admins open the admin pages")


def test_an_organisations_admin_manages_only_their_own_organisation(page: Page, site: Site) -> None:
    admin = site.person(site.developer_org, "admin", email="dora@frontier.example")
    sign_in(page, admin.email, admin.password)
    page.goto("/admin/orgs")
    expect(page.get_by_role("table")).to_contain_text("Frontier Labs")
    expect(page.get_by_role("table")).not_to_contain_text("Acme Software")
    expect(page.get_by_role("button", name="Create organisation")).to_have_count(0)

    other = page.goto(f"/admin/orgs/{site.vendor_org}")
    assert other is not None and other.status == 404

    page.goto("/admin/users")
    table = page.get_by_role("table")
    expect(table).to_contain_text(site.submitter.email)
    expect(table).not_to_contain_text(site.evaluator.email)
    expect(page.get_by_label("Organisation").locator("option")).to_have_text(["Frontier Labs"])

    page.goto("/admin/tokens")
    # The org's tokens, including its submitter's; never the agency's.
    expect(page.get_by_role("table")).to_contain_text(site.submitter.email)
    expect(page.get_by_role("table")).not_to_contain_text(site.evaluator.email)
