"""The advisory pages in real Chromium: an analyst drafts an advisory from a case's page, a
second analyst publishes it once the case's embargo has ended, and an anonymous visitor sees a
TLP:CLEAR advisory (listed, and on its own page) only from then on."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from .browser import check_page
from .conftest import SignedIn, Site

API = "/api/v1/clearinghouse"
TITLE = "Heap overflow in acme-parser before 2.4.1"


def _ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    result: dict[str, Any] = response.json()
    return result


def _coordinating_case(site: Site, embargo_days: int) -> str:
    """A coordinating case about a software flaw, its embargo ending in `embargo_days` days."""
    vuln = {
        "kind": "software",
        "title": "Heap overflow in acme-parser",
        "description": "A header longer than 4096 bytes overflows a heap buffer.",
        "tlp": "AMBER",
        "cvss": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "affected": [{"purl": "pkg:pypi/acme-parser"}],
        "provenance": {"discovered_by": "human", "human_verified": True},
        "consent": {"share": True, "credit": True},
    }
    embargo_end = site.clock.now() + timedelta(days=embargo_days)
    with httpx.Client(base_url=site.url, headers=site.analyst.headers) as http:
        filed = _ok(http.post(f"{API}/vulns", json=vuln), 201)
        case = _ok(
            http.post(
                f"{API}/cases",
                json={
                    "vulns": [filed["id"]],
                    "title": "Heap overflow in acme-parser",
                    "embargo_end": embargo_end.isoformat(),
                },
            ),
            201,
        )
        number: str = case["number"]
        _ok(http.post(f"{API}/cases/{number}/vendors", json={"org_id": site.vendor_org}), 201)
        _ok(http.post(f"{API}/cases/{number}/state", json={"state": "coordinating"}))
    return number


def test_the_public_sees_a_clear_advisory_only_after_its_embargo(
    page: Page, signed_in: SignedIn, site: Site
) -> None:
    case = _coordinating_case(site, embargo_days=3)
    author = signed_in(site.analyst)
    author.goto(f"/clearinghouse/cases/{case}")
    author.get_by_text("Add a vulnerability").click()
    author.get_by_label("Vulnerability title").fill("Overflow in parse_header")
    author.get_by_label("CVE id").fill("CVE-2026-12345")
    author.get_by_label("CVSS 3.x vector").fill("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")
    author.get_by_role("button", name="Add the vulnerability").click()
    expect(author.get_by_role("cell", name="CVE-2026-12345")).to_be_visible()

    # The vendor answers for it; its statement is published once an analyst approves it.
    vendor = signed_in(site.vendor)
    vendor.goto(f"/clearinghouse/cases/{case}")
    vendor.get_by_label("Status", exact=True).select_option(label="Fixed")
    vendor.get_by_label("Statement").fill("Fixed in 2.4.1.")
    vendor.get_by_role("button", name="Save the answer").click()
    expect(vendor.get_by_role("cell", name=re.compile("awaiting approval"))).to_be_visible()
    author.reload()
    author.get_by_role("button", name="Approve Acme Software's answer").click()
    expect(author.get_by_role("cell", name=re.compile("Fixed in 2.4.1"))).to_contain_text(
        "approved"
    )

    author.get_by_label("Advisory title").fill(TITLE)
    author.get_by_label("Summary").fill("A crafted header overflows a heap buffer.")
    author.get_by_label("Remediation").fill("Upgrade to 2.4.1.")
    author.get_by_label("References (one URL per line)").fill("https://example.org/acme/2.4.1")
    expect(author.get_by_label("Advisory label")).to_have_value("CLEAR")
    author.get_by_role("button", name="Draft the advisory").click()
    expect(author).to_have_url(re.compile(r"/advisories/PDXA-\d{4}-0001$"))
    number = author.url.rsplit("/", 1)[1]
    expect(
        author.get_by_role("heading", name="Draft revision 1, awaiting publication")
    ).to_be_visible()
    # Its author cannot publish it: the two-person rule is on.
    expect(author.get_by_text("You wrote this draft")).to_be_visible()
    expect(author.get_by_role("button", name="Publish revision 1")).to_have_count(0)
    check_page(author, "advisory-draft")

    # A draft is the agency's alone.
    missing = page.goto(f"/advisories/{number}")
    assert missing is not None and missing.status == 404
    page.goto("/advisories")
    expect(page.get_by_text("No advisories published yet.")).to_be_visible()
    expect(page.get_by_role("link", name=number)).to_have_count(0)

    second = signed_in(site.agency_admin)
    second.goto(f"/advisories/{number}")
    with second.expect_response(lambda r: r.request.method == "POST") as early:
        second.get_by_role("button", name="Publish revision 1").click()
    assert early.value.status == 409
    expect(second.get_by_role("alert")).to_contain_text("under embargo until")
    page.goto("/advisories")
    expect(page.get_by_role("link", name=number)).to_have_count(0)

    site.clock.advance(timedelta(days=3, minutes=1))
    # Sessions last hours, not days: sign in again after the embargo.
    second = signed_in(site.agency_admin)
    second.goto(f"/advisories/{number}")
    second.get_by_role("button", name="Publish revision 1").click()
    expect(second).to_have_url(re.compile(f"/advisories/{number}$"))
    expect(second.get_by_role("heading", name="Advisory", exact=True)).to_be_visible()

    page.goto("/advisories")
    link = page.get_by_role("link", name=number)
    expect(link).to_be_visible()
    expect(page.get_by_role("row", name=re.compile(TITLE))).to_contain_text("TLP:CLEAR")
    check_page(page, "advisory-list")
    link.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"{number}: {TITLE}")
    expect(page.get_by_text("Upgrade to 2.4.1.")).to_be_visible()
    expect(page.get_by_text("Critical 9.8").first).to_be_visible()
    expect(page.get_by_role("listitem").filter(has_text="Acme Software")).to_contain_text(
        "Fixed in 2.4.1."
    )
    expect(page.get_by_role("link", name="https://example.org/acme/2.4.1")).to_be_visible()
    expect(page.locator("dl.facts").first).to_contain_text(
        re.compile(r"Published\s*\d{4}-\d\d-\d\d \d\d:\d\d UTC")
    )
    check_page(page, "advisory-page")
    osv = page.get_by_role("link", name="OSV")
    response = page.request.get(osv.get_attribute("href") or "")
    assert response.status == 200
    record = response.json()["content"]
    assert record["affected"][0]["package"]["name"] == "acme-parser"
    assert "CVE-2026-12345" in record["aliases"]
    expect(page.get_by_role("link", name="CVE JSON 5")).to_be_visible()
