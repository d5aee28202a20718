"""The dashboard in real Chromium: each role sees what needs its attention, and only its own."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from predeploy.accounts import Actor
from predeploy.accounts.schemas import OrgCreate
from predeploy.accounts.service import create_org

from .browser import check_page, sign_in
from .conftest import Person, Site

API = "/api/v1"
CASES = f"{API}/clearinghouse/cases"


def _ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    result: dict[str, Any] = response.json()
    return result


def _submission(site: Site, person: Person, model_name: str) -> dict[str, Any]:
    """A submission of `person`'s developer org, submitted (so it owes a report)."""
    release = site.clock.now() + timedelta(days=20)
    with httpx.Client(base_url=site.url, headers=person.headers) as http:
        model = _ok(http.post(f"{API}/models", json={"name": model_name, "version": "v1"}), 201)
        body = {
            "model_id": model["id"],
            "planned_release_at": release.isoformat(),
            "access_variants": [{"label": "production", "model": "openai-api/acme/m1"}],
        }
        sub = _ok(http.post(f"{API}/submissions", json=body), 201)
        moved = http.post(f"{API}/submissions/{sub['id']}/transitions", json={"to": "submitted"})
        return _ok(moved)


def _vuln(site: Site, person: Person, title: str) -> dict[str, Any]:
    body = {
        "kind": "software",
        "title": title,
        "description": f"{title}: a crafted input overflows a buffer; confirmed by hand.",
        "tlp": "AMBER",
        "cwe": "CWE-787",
        "affected": [{"purl": f"pkg:pypi/lib-{uuid.uuid4().hex[:8]}"}],
        "root_cause": f"src/{uuid.uuid4().hex}.c:parse",
        "provenance": {"discovered_by": "human", "human_verified": True},
        "consent": {"share": True, "credit": False},
    }
    with httpx.Client(base_url=site.url, headers=person.headers) as http:
        return _ok(http.post(f"{API}/clearinghouse/vulns", json=body), 201)


def _case(site: Site, vuln_id: str, title: str, *vendor_orgs: str) -> dict[str, Any]:
    with httpx.Client(base_url=site.url, headers=site.analyst.headers) as http:
        case = _ok(http.post(CASES, json={"vulns": [vuln_id], "title": title}), 201)
        for org_id in vendor_orgs:
            _ok(http.post(f"{CASES}/{case['id']}/vendors", json={"org_id": org_id}), 201)
        return case


@dataclass
class Scene:
    """Two developers' submissions, a report waiting for triage, and two cases."""

    ours: dict[str, Any]
    theirs: dict[str, Any]
    waiting: dict[str, Any]
    with_vendor: dict[str, Any]
    without_vendor: dict[str, Any]


@pytest.fixture
def scene(site: Site) -> Scene:
    with site.runtime.unit(Actor.system("test")) as ctx:
        other_org = create_org(ctx, OrgCreate(name="Other Labs", capacities=["developer"])).id
    other = site.person(other_org, "submitter")
    # The outsider org reports both flaws; only the first case invites the vendor.
    first = _vuln(site, site.outsider, "Overflow in the header parser")
    second = _vuln(site, site.outsider, "Use after free in the session cache")
    return Scene(
        ours=_submission(site, site.submitter, "falcon"),
        theirs=_submission(site, other, "osprey"),
        waiting=_vuln(site, site.vendor, "Prompt injection leaks the system prompt"),
        with_vendor=_case(site, first["id"], "Header parser overflow", site.vendor_org),
        without_vendor=_case(site, second["id"], "Session cache use after free"),
    )


def _dashboard_of(page: Page, person: Person) -> None:
    page.context.clear_cookies()
    sign_in(page, person.email, person.password)
    page.goto("/")
    expect(page.get_by_role("heading", level=1)).to_have_text("What needs your attention")


def _campaign(site: Site, submission_id: str) -> dict[str, Any]:
    """A campaign of a one-item plan on an accepted submission (queued: no worker runs here)."""
    plan = {
        "name": "quick",
        "estimated_duration": "1h",
        "items": [{"task": "predeploy/cyber_suite", "task_args": {"families": ["crypto"]}}],
    }
    with httpx.Client(base_url=site.url, headers=site.evaluator.headers) as http:
        moved = http.post(f"{API}/submissions/{submission_id}/transitions", json={"to": "accepted"})
        _ok(moved)
        _ok(http.post(f"{API}/plans", json=plan), 201)
        body = {"submission_id": submission_id, "plan": "quick"}
        return _ok(http.post(f"{API}/campaigns", json=body), 201)


def test_an_evaluator_sees_every_submission_that_owes_a_report_and_the_campaigns(
    page: Page, site: Site, scene: Scene
) -> None:
    campaign = _campaign(site, scene.theirs["id"])
    _dashboard_of(page, site.evaluator)
    due = page.locator("#due")
    expect(due.get_by_role("link", name="falcon v1")).to_have_attribute(
        "href", f"/submissions/{scene.ours['id']}"
    )
    expect(due.get_by_role("link", name="osprey v1")).to_be_visible()
    # A countdown to the report's deadline, ticking from the server's clock.
    countdown = due.locator("[data-deadline]").last
    expect(countdown).to_have_text(re.compile(r"^\d+ d \d+ h left$"))
    campaigns = page.locator("#campaigns")
    expect(campaigns.get_by_role("link", name="quick v1")).to_have_attribute(
        "href", f"/campaigns/{campaign['id']}"
    )
    expect(campaigns.get_by_role("link", name="osprey v1")).to_be_visible()
    expect(page.locator("#triage")).to_have_count(0)
    expect(page.locator("#cases")).to_have_count(0)
    check_page(page, "dashboard-evaluator")


def test_an_analyst_sees_the_triage_queue_and_the_open_cases(
    page: Page, site: Site, scene: Scene
) -> None:
    _dashboard_of(page, site.analyst)
    triage = page.locator("#triage")
    expect(triage.get_by_role("link", name=scene.waiting["title"])).to_have_attribute(
        "href", f"/clearinghouse/reports/{scene.waiting['id']}"
    )
    # Reports that became cases have left the queue.
    expect(triage).not_to_contain_text("Overflow in the header parser")
    embargoes = page.locator("#embargoes")
    expect(
        embargoes.get_by_role("link", name=f"{scene.with_vendor['number']}: Header parser overflow")
    ).to_have_attribute("href", f"/clearinghouse/cases/{scene.with_vendor['id']}")
    expect(embargoes).to_contain_text(scene.without_vendor["number"])
    expect(page.locator("#due")).to_have_count(0)
    check_page(page, "dashboard-analyst")


def test_a_submitter_sees_only_their_own_organisations_submissions(
    page: Page, site: Site, scene: Scene
) -> None:
    # An hour past a whole number of days, so the countdown cannot land exactly on "2 d 0 h".
    site.clock.advance(timedelta(days=16, hours=1))
    _dashboard_of(page, site.submitter)
    mine = page.locator("#submissions")
    row = mine.get_by_role("row").filter(has=page.get_by_role("link", name="falcon v1"))
    expect(row).to_contain_text("submitted")
    expect(row).to_contain_text("due soon")
    expect(row.locator("[data-deadline]")).to_have_text(re.compile(r"^1 d \d+ h left$"))
    expect(page.locator("main")).not_to_contain_text("osprey")
    expect(page.locator("#triage")).to_have_count(0)
    expect(page.locator("#due")).to_have_count(0)
    check_page(page, "dashboard-submitter")


def test_a_vendor_sees_only_the_cases_it_is_invited_to_with_its_deadline(
    page: Page, site: Site, scene: Scene
) -> None:
    _dashboard_of(page, site.vendor)
    cases = page.locator("#cases")
    expect(
        cases.get_by_role("link", name=f"{scene.with_vendor['number']}: Header parser overflow")
    ).to_be_visible()
    expect(cases).to_contain_text("due ")
    expect(page.locator("main")).not_to_contain_text(scene.without_vendor["number"])
    expect(page.locator("main")).not_to_contain_text("falcon")
    expect(page.locator("#submissions")).to_have_count(0)
    check_page(page, "dashboard-vendor")


def test_nothing_to_do_says_so(page: Page, site: Site, scene: Scene) -> None:
    newcomer = site.person(site.vendor_org, "viewer")
    with site.runtime.unit(Actor.system("test")) as ctx:
        idle_org = create_org(ctx, OrgCreate(name="Quiet CERT", capacities=["participant"])).id
    idle = site.person(idle_org, "member")
    _dashboard_of(page, idle)
    expect(page.locator("#nothing-due")).to_have_text("Nothing needs your attention right now.")
    expect(page.locator("#cases")).to_contain_text("Your organisation is in no open case.")
    check_page(page, "dashboard-empty")
    # The same org's viewer sees the org's case: membership, not role, decides what is shown.
    _dashboard_of(page, newcomer)
    expect(page.locator("#cases")).to_contain_text(scene.with_vendor["number"])
