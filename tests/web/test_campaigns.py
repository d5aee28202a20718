"""Campaign pages in real Chromium: the list, one campaign followed live (Server-Sent Events) to
its end with a real worker, cancelling, and who may see a campaign."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from predeploy.accounts import Actor
from predeploy.campaigns._queue import claim_next
from predeploy.campaigns.worker import Worker

from .browser import check_page, sign_in
from .conftest import Person, Site

# The smallest real suite item (as tests/campaigns uses): one family, one level, one seed.
QUICK_ITEM: dict[str, Any] = {
    "task": "predeploy/cyber_suite",
    "task_args": {"families": ["crypto"], "levels": [1], "seeds": [1]},
    "limits": {"messages": 20},
}


def api(site: Site, person: Person) -> httpx.Client:
    """The JSON API as `person` (for setting up data)."""
    return httpx.Client(base_url=f"{site.url}/api/v1", headers=person.headers, timeout=30)


def accepted_submission(site: Site, variants: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A submission of the developer org, accepted by the agency, whose access variants are
    `variants` (default: one, the scripted expert baseline)."""
    release = site.clock.now() + timedelta(days=20)
    with api(site, site.submitter) as submitter, api(site, site.evaluator) as evaluator:
        model = submitter.post("/models", json={"name": "falcon", "version": "9-large"})
        assert model.status_code == 201, model.text
        created = submitter.post(
            "/submissions",
            json={
                "model_id": model.json()["id"],
                "planned_release_at": release.isoformat(),
                "access_variants": variants
                or [{"label": "production", "model": "predeploy/scripted-expert"}],
            },
        )
        assert created.status_code == 201, created.text
        sub_id = created.json()["id"]
        moved = submitter.post(f"/submissions/{sub_id}/transitions", json={"to": "submitted"})
        assert moved.status_code == 200, moved.text
        accepted = evaluator.post(f"/submissions/{sub_id}/transitions", json={"to": "accepted"})
        assert accepted.status_code == 200, accepted.text
        result: dict[str, Any] = accepted.json()
        return result


def queued_campaign(site: Site, submission_id: str) -> dict[str, Any]:
    """A campaign of the one-item quick plan, queued (nothing runs it until a worker does)."""
    with api(site, site.evaluator) as evaluator:
        plan = evaluator.post(
            "/plans",
            # One job, without the identity probes' two: the page's figures stay countable.
            json={
                "name": "quick",
                "estimated_duration": "1h",
                "items": [QUICK_ITEM],
                "identity_probes": None,
            },
        )
        assert plan.status_code in (200, 201), plan.text
        started = evaluator.post(
            "/campaigns", json={"submission_id": submission_id, "plan": "quick"}
        )
        assert started.status_code == 201, started.text
        result: dict[str, Any] = started.json()
        return result


def test_the_campaign_page_follows_a_campaign_to_its_end_without_reloading(
    site: Site, page: Page
) -> None:
    sub = accepted_submission(site)
    campaign = queued_campaign(site, sub["id"])
    sign_in(page, site.evaluator.email, site.evaluator.password)

    page.goto("/campaigns")
    expect(page.get_by_role("link", name="quick v1")).to_be_visible()
    check_page(page, "campaign-list")

    page.get_by_role("link", name="quick v1").click()
    page.wait_for_url(f"**/campaigns/{campaign['id']}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("falcon 9-large")
    state = page.locator("#campaign-state")
    expect(state).to_have_text("Queued")
    expect(page.locator("#campaign-progress")).to_have_attribute("value", "0")
    # Set on this document: still there at the end only if the page was never reloaded.
    page.evaluate("() => { window.stillTheSamePage = true; }")

    # A worker claims the job (the campaign is running) and then stops answering.
    with site.runtime.unit(Actor.system("test worker")) as ctx:
        claim = claim_next(ctx, "vanished-worker", timedelta(seconds=1))
    assert claim is not None and not isinstance(claim, str)
    expect(state).to_have_text("Running")
    row = page.locator(f'#campaign-jobs tr[data-job="{claim.job_id}"]')
    expect(row.locator('[data-field="state"]')).to_have_text("running")
    check_page(page, "campaign-detail-running")

    # Its lease runs out; a real worker takes the job over and runs it in the sandbox.
    site.clock.advance(timedelta(seconds=5))
    worker = Worker(site.runtime)
    outcomes: list[str] = []
    thread = threading.Thread(
        target=lambda: outcomes.extend(o.outcome for o in worker.run(exit_when_idle=True))
    )
    thread.start()
    try:
        expect(state).to_have_text("Completed", timeout=45_000)
    finally:
        thread.join(timeout=60)
    assert outcomes == ["succeeded"]
    expect(page.locator("#campaign-progress")).to_have_attribute("value", "100")
    expect(page.locator("#campaign-progress-text")).to_have_text("100% done: 1 of 1 samples")
    expect(row.locator('[data-field="samples"]')).to_have_text("1 / 1")
    expect(row.locator('[data-field="state"]')).to_have_text("succeeded")
    # The scripted expert solves its instance: the score so far is the agency's to see.
    expect(row.locator('[data-field="score"]')).to_have_text("1.00 (1 scored)")
    expect(page.get_by_role("status")).to_have_text("The campaign is over: completed.")
    expect(page.locator("#campaign-cancel")).to_be_hidden()
    assert page.evaluate("() => window.stillTheSamePage") is True
    check_page(page, "campaign-detail-done")


def test_the_developer_watches_its_campaign_and_an_outsider_finds_nothing(
    site: Site, page: Page
) -> None:
    sub = accepted_submission(site)
    campaign = queued_campaign(site, sub["id"])
    detail = f"/campaigns/{campaign['id']}"

    sign_in(page, site.submitter.email, site.submitter.password)
    page.goto(detail)
    expect(page.locator("#campaign-state")).to_have_text("Queued")
    # Progress, yes; scores so far and cancelling are the agency's.
    expect(page.get_by_role("columnheader", name="Score so far")).to_have_count(0)
    expect(page.get_by_role("button", name="Cancel the campaign")).to_have_count(0)
    token = page.locator('input[name="csrf_token"]').first.get_attribute("value")
    assert token
    refused = page.request.post(f"{detail}/cancel", form={"csrf_token": token, "reason": "no"})
    assert refused.status == 403
    assert "only agency evaluators and admins cancel campaigns" in refused.text()

    page.context.clear_cookies()
    sign_in(page, site.outsider.email, site.outsider.password)
    response = page.goto(detail)
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    assert page.request.get(f"{detail}/events").status == 404
    page.goto("/campaigns")
    expect(page.locator("#no-campaigns")).to_be_visible()
    expect(page.get_by_role("link", name="quick v1")).to_have_count(0)


def test_agency_staff_cancel_a_campaign_from_its_page(site: Site, page: Page) -> None:
    sub = accepted_submission(site)
    campaign = queued_campaign(site, sub["id"])
    sign_in(page, site.evaluator.email, site.evaluator.password)
    page.goto(f"/campaigns/{campaign['id']}")
    page.get_by_label("Reason (optional, recorded in the audit log)").fill("wrong plan")
    page.get_by_role("button", name="Cancel the campaign").click()
    expect(page.locator("#campaign-state")).to_have_text("Cancelled")
    expect(page.locator("#campaign-reason")).to_have_text("wrong plan")
    expect(page.get_by_role("button", name="Cancel the campaign")).to_have_count(0)
    with api(site, site.evaluator) as evaluator:
        assert evaluator.get(f"/campaigns/{campaign['id']}").json()["state"] == "cancelled"
