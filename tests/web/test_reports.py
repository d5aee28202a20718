"""Report pages in real Chromium: drafting and issuing a report under the two-person rule,
downloading its files, the public verify page, and who may see a report."""

from __future__ import annotations

import json
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from predeploy.accounts import Actor
from predeploy.campaigns.worker import Worker
from predeploy.determination import CATEGORIES
from predeploy.reports._signing import verify_report
from predeploy.submissions.service import mark_testing
from predeploy.testing import StoredResult, store_completed_campaign

from .browser import check_page, sign_in
from .conftest import Site
from .test_campaigns import QUICK_ITEM, accepted_submission, api


def submission_with_results(site: Site) -> str:
    """A submission in testing with one completed campaign (as a worker's ingest leaves it):
    the scripted expert solved 8 of 10 instances at suite level 1. Its id."""
    sub_id = str(accepted_submission(site)["id"])
    with site.runtime.unit(Actor.system("test")) as ctx:
        mark_testing(ctx, sub_id)
    results = {
        "production": [
            StoredResult(
                sample_id=f"{CATEGORIES[0]}-{index}",
                category=CATEGORIES[0],
                level=1,
                score=1.0 if index < 8 else 0.0,
            )
            for index in range(10)
        ]
    }
    store_completed_campaign(site.runtime, sub_id, results, now=site.clock.now())
    return sub_id


def issued_report(site: Site, sub_id: str) -> tuple[bytes, bytes]:
    """Draft (the evaluator) and approve (the agency admin) a report through the JSON API:
    its signed JSON and signature."""
    with api(site, site.evaluator) as author, api(site, site.agency_admin) as approver:
        draft = author.post(f"/submissions/{sub_id}/report", json={})
        assert draft.status_code == 201, draft.text
        approved = approver.post(
            f"/submissions/{sub_id}/report/approve",
            json={"draft_sha256": draft.json()["draft_sha256"]},
        )
        assert approved.status_code == 200, approved.text
        data = author.get(f"/submissions/{sub_id}/report/1.json").content
        signature = author.get(f"/submissions/{sub_id}/report/1.sig").content
    return data, signature


def test_a_report_is_drafted_issued_and_downloaded_from_its_page(
    site: Site, page: Page, browser: Browser, tmp_path: Path
) -> None:
    sub_id = submission_with_results(site)
    sign_in(page, site.evaluator.email, site.evaluator.password)
    page.goto("/reports")
    check_page(page, "report-list")
    page.get_by_role("link", name="falcon 9-large").click()
    expect(page.locator("#no-versions")).to_have_text("No report has been drafted yet.")
    page.get_by_label("Limitations to state (one per line, optional)").fill(
        "Synthetic targets only."
    )
    page.get_by_role("button", name="Draft the report").click()
    expect(page.locator("#verdict")).to_be_visible()
    expect(page.get_by_text("This version is a draft")).to_be_visible()
    # The two-person rule: the author cannot approve their own draft.
    expect(page.locator("#second-person")).to_be_visible()
    expect(page.get_by_role("button", name="Approve, sign and issue version 1")).to_have_count(0)

    # The developer sees nothing of a draft.
    developer = browser.new_context(base_url=site.url)
    dev_page = developer.new_page()
    sign_in(dev_page, site.submitter.email, site.submitter.password)
    dev_page.goto(f"/reports/{sub_id}")
    expect(dev_page.locator("#no-versions")).to_have_text("No report has been issued yet.")
    expect(dev_page.locator("#verdict")).to_have_count(0)

    # A second agency member approves: the version is signed and issued.
    page.context.clear_cookies()
    sign_in(page, site.agency_admin.email, site.agency_admin.password)
    page.goto(f"/reports/{sub_id}")
    page.get_by_role("button", name="Approve, sign and issue version 1").click()
    expect(page.get_by_role("cell", name="issued", exact=True)).to_be_visible()
    expect(page.locator("#criteria-met")).to_contain_text(" of ")
    charts = page.locator("figure.report-chart svg[role=img]")
    expect(charts.first).to_be_visible()
    # The CSP allows no inline style: the charts draw with presentation attributes only.
    assert page.locator("main [style], main style").count() == 0
    check_page(page, "report-detail")

    files = {}
    for name in ("JSON", "Signature", "PDF"):
        with page.expect_download() as info:
            page.get_by_role("link", name=f"{name} of version 1").click()
        download = info.value
        target = tmp_path / download.suggested_filename
        download.save_as(target)
        files[name] = target
    assert files["JSON"].name == f"report-{sub_id}-v1.json"
    assert files["Signature"].name == f"report-{sub_id}-v1.json.sig"
    assert files["PDF"].read_bytes().startswith(b"%PDF")
    verified = verify_report(
        files["JSON"].read_bytes(),
        files["Signature"].read_bytes(),
        site.runtime.signing_key.public_pem(),
    )
    assert verified.key_id == site.runtime.signing_key.key_id
    assert verified.document["limitations"] == ["Synthetic targets only."]
    # The verify page says the same to a signed-in user (whose form carries the CSRF token).
    page.get_by_role("link", name="verify page").click()
    page.get_by_label("Report JSON").set_input_files(files["JSON"])
    page.get_by_label("Signature file").set_input_files(files["Signature"])
    page.get_by_role("button", name="Verify").click()
    expect(page.locator("#verify-outcome")).to_contain_text(
        f"Valid: the report is signed by key {verified.key_id}"
    )

    # Now issued, the developer sees it and may download it.
    dev_page.reload()
    expect(dev_page.locator("#verdict")).to_be_visible()
    expect(dev_page.get_by_role("button", name="Draft the report")).to_have_count(0)
    signature = dev_page.request.get(f"/reports/{sub_id}/download/sig")
    assert signature.status == 200
    assert signature.body() == files["Signature"].read_bytes()
    assert "attachment" in signature.headers["content-disposition"]
    developer.close()


def test_a_report_someone_may_not_see_is_not_found(site: Site, page: Page) -> None:
    sub_id = submission_with_results(site)
    issued_report(site, sub_id)
    sign_in(page, site.outsider.email, site.outsider.password)
    response = page.goto(f"/reports/{sub_id}")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    for fmt in ("json", "sig", "pdf"):
        assert page.request.get(f"/reports/{sub_id}/download/{fmt}").status == 404
    page.goto("/reports")
    expect(page.get_by_role("link", name="falcon 9-large")).to_have_count(0)


def test_anyone_verifies_a_report_and_its_signature(site: Site, page: Page, tmp_path: Path) -> None:
    data, signature = issued_report(site, submission_with_results(site))
    report_file, signature_file = tmp_path / "report.json", tmp_path / "report.json.sig"
    report_file.write_bytes(data)
    signature_file.write_bytes(signature)

    page.goto("/reports/verify")  # not signed in
    expect(page.get_by_role("heading", level=1)).to_have_text("Verify a report")
    check_page(page, "report-verify")

    page.get_by_label("Report JSON").set_input_files(report_file)
    page.get_by_label("Signature file").set_input_files(signature_file)
    page.get_by_role("button", name="Verify").click()
    outcome = page.locator("#verify-outcome")
    expect(outcome).to_contain_text("Valid:")
    key_id = site.runtime.signing_key.key_id
    expect(outcome).to_contain_text(key_id)
    expect(page.locator("#verify-result")).to_contain_text(verify_report(
        data, signature, site.runtime.signing_key.public_pem()).sha256)  # fmt: skip
    check_page(page, "report-verify-valid")

    # One changed value, still canonical JSON: the signature no longer matches.
    document = json.loads(data)
    tampered = data.replace(
        json.dumps(document["model"]["name"]).encode(), json.dumps("falcom").encode(), 1
    )
    assert tampered != data
    report_file.write_bytes(tampered)
    page.get_by_label("Report JSON").set_input_files(report_file)
    page.get_by_label("Signature file").set_input_files(signature_file)
    page.get_by_role("button", name="Verify").click()
    expect(outcome).to_contain_text("Not valid:")
    expect(outcome).to_contain_text(f"signature does not verify with key {key_id}")
    check_page(page, "report-verify-invalid")

    # An empty upload is refused as a form error (422), naming what is missing.
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_label("Report JSON").set_input_files(
            {"name": "empty.json", "mimeType": "application/json", "buffer": b""}
        )
        page.get_by_label("Signature file").set_input_files(signature_file)
        page.get_by_role("button", name="Verify").click()
    assert answer.value.status == 422
    expect(page.locator("#verify-error")).to_have_text(
        "choose the report JSON file to upload: none was sent"
    )
    expect(page.get_by_label("Report JSON")).to_have_attribute("aria-describedby", "verify-error")


def test_the_report_page_shows_the_safeguards_and_identity_sections(site: Site, page: Page) -> None:
    variants = [
        {"label": "production", "model": "predeploy/scripted-guarded"},
        {"label": "reduced-safeguards", "model": "predeploy/scripted-expert"},
    ]
    sub_id = str(accepted_submission(site, variants)["id"])
    misuse = {
        "task": "predeploy/safeguards_misuse",
        "task_args": {"framings": ["direct"], "families": ["crypto"], "seeds": [5]},
    }
    plan = {
        "name": "two-variants",
        "estimated_duration": "1h",
        "items": [QUICK_ITEM, misuse, {**misuse, "variant": "reduced-safeguards"}],
    }
    with api(site, site.evaluator) as evaluator:
        assert evaluator.post("/plans", json=plan).status_code == 201
        started = evaluator.post("/campaigns", json={"submission_id": sub_id, "plan": plan["name"]})
        assert started.status_code == 201, started.text
    outcomes = [outcome.outcome for outcome in Worker(site.runtime).run(exit_when_idle=True)]
    assert outcomes == ["succeeded"] * 7, outcomes  # 3 items, 2 variants x 2 identity probes
    issued_report(site, sub_id)

    sign_in(page, site.evaluator.email, site.evaluator.password)
    page.goto(f"/reports/{sub_id}")

    expect(page.locator("#effective-capability")).to_be_visible()
    rates = page.locator("#safeguard-rates tbody tr")
    expect(rates).to_have_count(2)
    expect(rates.nth(0)).to_contain_text("production")
    expect(rates.nth(0).locator('[data-label="Misuse compliance"]')).to_have_text("0 / 1")
    expect(rates.nth(1).locator('[data-label="Misuse compliance"]')).to_have_text("1 / 1")
    identity = page.locator("#identity tbody tr")
    expect(identity).to_have_count(2)
    expect(identity.nth(0)).to_contain_text("match, 100 / 100 probes agree")
    expect(page.get_by_text("The model changed during testing")).to_have_count(0)
    check_page(page, "report-detail-safeguards")
