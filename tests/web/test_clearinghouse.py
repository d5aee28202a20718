"""The clearinghouse pages in real Chromium: filing a vulnerability report through the form,
the analysts' triage queue and triage, opening a case, inviting a vendor, the case's discussion,
and a case (and its report) staying invisible to an org that is not in it."""

from __future__ import annotations

import re
from typing import Any

import httpx
from playwright.sync_api import expect

from .browser import check_page
from .conftest import Person, SignedIn, Site

VULNS = "/api/v1/clearinghouse/vulns"
TITLE = "Heap overflow in acme-parser's header parsing"
VALID_CVSS = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
STEPS = "python poc.py --header-length 5000"
POC = b"import socket  # sends a 5000-byte header\n"

SOFTWARE_VULN: dict[str, Any] = {
    "kind": "software",
    "title": TITLE,
    "description": "A header longer than 4096 bytes overflows a heap buffer.",
    "tlp": "AMBER",
    "cvss": VALID_CVSS,
    "affected": [{"purl": "pkg:pypi/acme-parser"}],
    "evidence": {"steps": STEPS},
    "provenance": {
        "discovered_by": "ai_system",
        "system": {"model": "frontier/finder-1", "harness": "fuzz-agent"},
        "human_verified": True,
    },
    "consent": {"share": True, "credit": True},
}


def _file(site: Site, person: Person) -> str:
    with httpx.Client(base_url=site.url, headers=person.headers) as http:
        response = http.post(VULNS, json=SOFTWARE_VULN)
    assert response.status_code == 201, response.text
    vuln_id: str = response.json()["id"]
    return vuln_id


def test_a_vulnerability_report_is_filed_through_the_form(signed_in: SignedIn, site: Site) -> None:
    page = signed_in(site.submitter)
    page.goto("/clearinghouse/reports")
    page.get_by_role("link", name="File a vulnerability report").click()
    expect(page).to_have_url(re.compile(r"/clearinghouse/reports/new$"))
    check_page(page, "vuln-report-form")

    page.get_by_label("A flaw in software").check()
    page.get_by_label("Title (required)").fill(TITLE)
    page.get_by_label("Description (required)").fill("A long header overflows a heap buffer.")
    page.get_by_label("Affected product (purl or CPE)").fill("pkg:pypi/acme-parser")
    page.get_by_label("CVSS 3.1 or 4.0 vector").fill("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:X")
    page.get_by_label("Steps to reproduce").fill(STEPS)
    page.get_by_label("An AI system", exact=True).check()
    page.get_by_label("The AI system's model").fill("frontier/finder-1")
    page.get_by_label("Its harness or agent").fill("fuzz-agent")
    page.get_by_label("A person has verified the flaw").check()
    page.get_by_label("The clearinghouse may share this report").check()
    with page.expect_response(lambda r: r.request.method == "POST") as refused:
        page.get_by_role("button", name="File the report").click()
    assert refused.value.status == 422
    expect(page.get_by_role("alert")).to_contain_text("The report was not filed: cvss")
    # What was typed is kept, and the message is tied to the field it is about.
    expect(page.get_by_label("Title (required)")).to_have_value(TITLE)
    expect(page.get_by_label("Steps to reproduce")).to_have_value(STEPS)
    expect(page.get_by_label("An AI system", exact=True)).to_be_checked()
    cvss = page.get_by_label("CVSS 3.1 or 4.0 vector")
    expect(cvss).to_have_attribute("aria-invalid", "true")
    expect(cvss).to_have_attribute("aria-describedby", "form-error")
    check_page(page, "vuln-report-form-error")

    cvss.fill(VALID_CVSS)
    page.get_by_label("Proof of concept file").set_input_files(
        files=[{"name": "poc.py", "mimeType": "text/x-python", "buffer": POC}]
    )
    page.get_by_role("button", name="File the report").click()
    expect(page).to_have_url(re.compile(r"/clearinghouse/reports/[0-9a-f-]{36}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(TITLE)
    expect(page.get_by_text("Critical 9.8")).to_be_visible()
    # The reporter's own org gets its steps to reproduce back.
    expect(page.get_by_text(STEPS)).to_be_visible()
    attachment = page.get_by_role("link", name="poc.py")
    expect(page.get_by_role("row", name=re.compile("poc.py"))).to_contain_text("proof of concept")
    download = page.request.get(attachment.get_attribute("href") or "")
    assert download.status == 200 and download.body() == POC
    page.goto("/clearinghouse/reports")
    expect(page.get_by_role("link", name=TITLE)).to_be_visible()


def test_an_analyst_triages_a_report_and_coordinates_it_with_the_vendor(
    signed_in: SignedIn, site: Site
) -> None:
    vuln_id = _file(site, site.submitter)
    analyst = signed_in(site.analyst)
    analyst.goto("/clearinghouse/reports")
    expect(analyst.get_by_role("link", name=TITLE)).to_be_visible()
    check_page(analyst, "vuln-triage-queue")
    # Filtering works with htmx (the address follows) and without it (a plain GET).
    analyst.get_by_label("Label", exact=True).select_option("RED")
    expect(analyst).to_have_url(re.compile(r"tlp=RED"))
    expect(analyst.get_by_text("No reports match these filters.")).to_be_visible()
    analyst.goto("/clearinghouse/reports?status=all&tlp=AMBER&kind=software")
    expect(analyst.get_by_label("Label", exact=True)).to_have_value("AMBER")
    analyst.get_by_role("link", name=TITLE).click()

    expect(analyst).to_have_url(re.compile(f"/clearinghouse/reports/{vuln_id}$"))
    check_page(analyst, "vuln-report-detail")
    analyst.get_by_label("Priority").select_option("2")
    analyst.get_by_role("button", name="Mark triaged").click()
    expect(analyst.locator("dl.facts").first).to_contain_text("triaged")
    expect(analyst.locator("dl.facts").first).to_contain_text("2 (1 is the most urgent)")

    analyst.get_by_role("button", name="Open a case").click()
    expect(analyst).to_have_url(re.compile(r"/clearinghouse/cases/PDX-\d{4}-0001$"))
    number = analyst.url.rsplit("/", 1)[1]
    facts = analyst.locator("dl.facts").first
    expect(facts).to_contain_text(re.compile(r"Embargo ends\s*\d{4}-\d\d-\d\d 12:00 UTC"))
    expect(facts).to_contain_text(re.compile(r"4\d d \d+ h left"))
    analyst.get_by_label("Vendor organisation").select_option(label="Acme Software")
    analyst.get_by_role("button", name="Invite").click()
    expect(analyst.get_by_role("cell", name=re.compile("Acme Software"))).to_be_visible()
    check_page(analyst, "case-page")

    vendor = signed_in(site.vendor)
    vendor.goto("/clearinghouse/cases")
    check_page(vendor, "case-list")
    vendor.get_by_role("link", name=number).click()
    expect(vendor.get_by_role("heading", level=1)).to_contain_text(number)
    # An invited vendor gets the report, steps to reproduce included, to fix the flaw.
    vendor.get_by_role("link", name=TITLE).click()
    expect(vendor.get_by_text(STEPS)).to_be_visible()
    vendor.go_back()
    vendor.get_by_label("Your message").fill("Reproduced; the fix ships in 2.4.1.")
    vendor.get_by_role("button", name="Post").click()
    expect(vendor.locator("ol.posts")).to_contain_text("Reproduced; the fix ships in 2.4.1.")

    outsider = signed_in(site.outsider)
    response = outsider.goto(f"/clearinghouse/cases/{number}")
    assert response is not None and response.status == 404
    expect(outsider.get_by_role("heading", name="Not found")).to_be_visible()
    report = outsider.goto(f"/clearinghouse/reports/{vuln_id}")
    assert report is not None and report.status == 404
    outsider.goto("/clearinghouse/cases")
    expect(outsider.get_by_text("No cases.")).to_be_visible()

    analyst.reload()
    posts = analyst.locator("ol.posts li")
    expect(posts).to_have_count(1)
    expect(posts).to_contain_text("Acme Software")
    expect(posts).to_contain_text("Reproduced; the fix ships in 2.4.1.")


def test_a_refused_triage_shows_the_report_again_with_the_reason(
    signed_in: SignedIn, site: Site
) -> None:
    vuln_id = _file(site, site.submitter)
    analyst = signed_in(site.analyst)
    analyst.goto(f"/clearinghouse/reports/{vuln_id}")
    analyst.get_by_label("Id of the original report").fill(vuln_id)
    analyst.get_by_label("Why", exact=True).last.fill("same flaw")
    with analyst.expect_response(lambda r: r.request.method == "POST") as refused:
        analyst.get_by_role("button", name="Close as duplicate").click()
    assert refused.value.status == 422
    expect(analyst.get_by_role("alert")).to_contain_text("cannot duplicate itself")
    expect(analyst.get_by_label("Id of the original report")).to_have_attribute(
        "aria-invalid", "true"
    )
    expect(analyst.locator("dl.facts").first).to_contain_text("new")


def test_an_analyst_records_an_ssvc_decision(signed_in: SignedIn, site: Site) -> None:
    vuln_id = _file(site, site.submitter)
    analyst = signed_in(site.analyst)
    analyst.goto(f"/clearinghouse/reports/{vuln_id}")
    analyst.get_by_role("link", name="Record an SSVC decision").click()
    check_page(analyst, "vuln-ssvc")
    choices = {
        "Report Public (RP)": "No",
        "Supplier Contacted (SCON)": "Yes",
        "Report Credibility (RC)": "Credible",
        "Supplier Cardinality (SC)": "Multiple",
        "Supplier Engagement (SE)": "Active",
        "Utility (U)": "Super Effective",
        "Public Safety Impact (PSI)": "Significant",
    }
    for label, value in choices.items():
        analyst.get_by_label(label).select_option(label=value)
    analyst.get_by_role("button", name="Record the decision").click()
    expect(analyst).to_have_url(re.compile(f"/clearinghouse/reports/{vuln_id}$"))
    expect(analyst.locator("dl.facts").first).to_contain_text(
        re.compile(r"SSVC decision\s*Coordinate")
    )


def test_the_triage_pages_are_the_analysts(signed_in: SignedIn, site: Site) -> None:
    vuln_id = _file(site, site.submitter)
    reporter = signed_in(site.submitter)
    reporter.goto(f"/clearinghouse/reports/{vuln_id}")
    expect(reporter.get_by_role("heading", level=1)).to_have_text(TITLE)
    expect(reporter.get_by_role("button", name="Mark triaged")).to_have_count(0)
    expect(reporter.get_by_role("button", name="Open a case")).to_have_count(0)
    # Sending the form anyway is refused by the service, and changes nothing.
    token = reporter.locator("input[name=csrf_token]").first.get_attribute("value") or ""
    refused = reporter.request.post(
        f"/clearinghouse/reports/{vuln_id}/triage",
        form={"csrf_token": token, "action": "triaged", "priority": "1"},
    )
    assert refused.status == 403
    assert "analysts and admins triage vulnerability reports" in refused.text()
    reporter.reload()
    expect(reporter.locator("dl.facts").first).to_contain_text(re.compile(r"Status\s*new"))
    reporter.goto("/clearinghouse/reports")
    expect(reporter.get_by_label("Status")).not_to_contain_text("triage queue")
