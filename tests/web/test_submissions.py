"""The submissions pages in real Chromium: the list, one submission, its moves, and the form."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from predeploy.accounts import Actor
from predeploy.accounts.schemas import OrgCreate
from predeploy.accounts.service import create_org
from predeploy.submissions import service
from predeploy.submissions.schemas import SubmissionDetail
from predeploy.submissions.states import State

from .browser import check_page, sign_in
from .conftest import Person, Site

API_KEY = "sk-web-Qm7Rt2Vx9Lp4Zc8Nh"  # distinctive: it must never come back in a page


def _api(site: Site, person: Person) -> httpx.Client:
    return httpx.Client(base_url=f"{site.url}/api/v1", headers=person.headers)


def _submit_by_api(site: Site, name: str = "frontier-m1", *, send: bool = True) -> dict[str, Any]:
    """A submission of the site's developer, made through the JSON API (sent unless `send` is
    false)."""
    release = site.clock.now() + timedelta(days=20)
    with _api(site, site.submitter) as api:
        model = api.post("/models", json={"name": name, "version": "2026-11"})
        assert model.status_code == 201, model.text
        created = api.post(
            "/submissions",
            json={
                "model_id": model.json()["id"],
                "planned_release_at": release.isoformat(),
                "access_variants": [
                    {"label": "production", "model": "openai-api/frontier/m1", "api_key": API_KEY}
                ],
            },
        )
        assert created.status_code == 201, created.text
        body: dict[str, Any] = created.json()
        if send:
            moved = api.post(f"/submissions/{body['id']}/transitions", json={"to": "submitted"})
            assert moved.status_code == 200, moved.text
    return body


def _as_system(site: Site) -> Any:
    return site.runtime.unit(Actor.system("test"))


def _submissions(site: Site) -> list[SubmissionDetail]:
    with _as_system(site) as ctx:
        return [service.get_submission(ctx, s.id) for s in service.list_submissions(ctx).items]


def _model_count(site: Site) -> int:
    with _as_system(site) as ctx:
        return len(service.list_models(ctx).items)


def _release_day(site: Site, days: int = 20) -> datetime:
    return site.clock.now() + timedelta(days=days)


def test_a_submitter_submits_a_model_through_the_form(page: Page, site: Site) -> None:
    sign_in(page, site.submitter.email, site.submitter.password)
    page.goto("/submissions")
    expect(page.get_by_text("No submissions")).to_be_visible()
    page.get_by_role("link", name="Submit a model for testing").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Submit a model for testing")
    check_page(page, "submission-new")

    page.get_by_label("Model name").fill("frontier-m2")
    page.get_by_label("Version", exact=True).fill("2026-12")
    page.get_by_label("Planned release date").fill(f"{_release_day(site):%Y-%m-%d}")
    page.get_by_label("Inspect model string").fill("openai-api/frontier/m2")
    page.get_by_label("Base URL").fill("https://models.frontier.example/v1")
    page.get_by_label("API key").fill(API_KEY)
    page.get_by_role("button", name="Create submission").click()

    expect(page).to_have_url(re.compile(r"/submissions/[0-9a-f-]{36}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("frontier-m2 2026-12")
    expect(page.locator(".state-line")).to_have_text("Submitted")
    expect(page.locator("ol.timeline li.current")).to_contain_text("Sent to the agency")
    expect(page.locator("[data-deadline]").first).to_have_text(re.compile(r"\d+ d \d+ h left"))
    expect(page.get_by_role("cell", name="stored, encrypted")).to_be_visible()
    # The developer may withdraw, never accept its own submission.
    expect(page.get_by_role("button", name="Withdraw")).to_be_visible()
    expect(page.get_by_role("button", name="Accept for testing")).to_have_count(0)
    assert API_KEY not in page.content()
    check_page(page, "submission-detail")

    (created,) = _submissions(site)
    assert page.url.endswith(f"/submissions/{created.id}")
    assert created.state is State.SUBMITTED
    assert created.access_variants[0].has_api_key
    assert created.access_variants[0].base_url == "https://models.frontier.example/v1"
    assert created.planned_release_at.date() == _release_day(site).date()

    page.get_by_role("link", name="Submissions", exact=True).first.click()
    expect(page.get_by_role("link", name="frontier-m2 2026-12")).to_be_visible()


def _focused(page: Page) -> str:
    return str(page.evaluate("() => document.activeElement && document.activeElement.id"))


def _tab_to(page: Page, target: str, visited: list[str], limit: int = 12) -> None:
    """Press Tab until `target` has the focus, noting each field the focus passes through."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        now = _focused(page)
        if now and (not visited or visited[-1] != now):
            visited.append(now)
        if now == target:
            return
    raise AssertionError(f"Tab never reached #{target}; the focus went through {visited}")


def test_the_form_can_be_sent_with_the_keyboard_alone(page: Page, site: Site) -> None:
    # Signing in too: the email field has the focus, Tab reaches the password, Enter sends.
    page.goto("/login?next=/submissions/new")
    expect(page.get_by_label("Email")).to_be_focused()
    page.keyboard.type(site.submitter.email)
    page.keyboard.press("Tab")
    page.keyboard.type(site.submitter.password)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/submissions/new$"))
    # The skip link leads past the menu into the page, as a keyboard user would go.
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    visited: list[str] = []
    release = _release_day(site)

    _tab_to(page, "model_name", visited)
    page.keyboard.type("keyboard-model")
    _tab_to(page, "model_version", visited)
    page.keyboard.type("k1")
    _tab_to(page, "declared_frontier", visited)
    page.keyboard.press("Space")
    _tab_to(page, "planned_release_date", visited)
    # Chromium's date field takes the digits in the browser's locale order (en-US here).
    page.keyboard.type(f"{release:%m%d%Y}")
    _tab_to(page, "variant_model", visited)
    page.keyboard.type("openai-api/frontier/kb")
    _tab_to(page, "api_key", visited)
    page.keyboard.type(API_KEY)
    _tab_to(page, "create-submission", visited)
    page.keyboard.press("Enter")

    expect(page).to_have_url(re.compile(r"/submissions/[0-9a-f-]{36}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("keyboard-model k1")
    # The focus went down the form in the order it reads, skipping nothing it should not.
    assert visited == [
        "model_name",
        "model_version",
        "weights_digest",
        "modalities",
        "training_flop",
        "declared_frontier",
        "planned_release_date",
        "planned_release_time",
        "variant_label",
        "variant_model",
        "base_url",
        "api_key",
        "more-summary",
        "send_now",
        "create-submission",
    ], visited
    (created,) = _submissions(site)
    assert created.model_name == "keyboard-model"
    assert created.state is State.SUBMITTED
    assert created.planned_release_at.date() == release.date()
    with _as_system(site) as ctx:
        assert service.get_model(ctx, created.model_id).declared_frontier is True


def test_an_evaluator_accepts_a_submission_with_its_button(page: Page, site: Site) -> None:
    created = _submit_by_api(site)
    sign_in(page, site.evaluator.email, site.evaluator.password)
    page.goto("/submissions")
    row = page.get_by_role("row").filter(has_text="frontier-m1 2026-11")
    expect(row).to_contain_text("Frontier Labs")
    expect(row).to_contain_text("Submitted")
    check_page(page, "submissions-list")

    row.get_by_role("link", name="frontier-m1 2026-11").click()
    expect(page).to_have_url(re.compile(rf"/submissions/{created['id']}$"))
    expect(page.get_by_role("button", name="Decline")).to_be_visible()
    expect(page.get_by_label("Reason for declining (optional)")).to_be_visible()
    expect(page.get_by_role("button", name="Withdraw")).to_have_count(0)
    expect(page.get_by_text("No campaign yet.")).to_be_visible()
    assert API_KEY not in page.content()
    check_page(page, "submission-detail-agency")

    page.get_by_role("button", name="Accept for testing").click()
    expect(page).to_have_url(re.compile(rf"/submissions/{created['id']}\?moved=accepted$"))
    expect(page.get_by_role("status")).to_have_text("The submission is now accepted.")
    expect(page.locator(".state-line")).to_have_text("Accepted")
    expect(page.get_by_role("row").filter(has_text="Submitted → Accepted")).to_contain_text(
        "agency"
    )
    # Testing is started by the system and a withdrawal is the developer's: nothing is left.
    expect(page.get_by_role("button", name="Accept for testing")).to_have_count(0)
    expect(page.get_by_role("heading", name="Next steps")).to_have_count(0)
    with _as_system(site) as ctx:
        assert service.get_submission(ctx, created["id"]).state is State.ACCEPTED


def test_a_move_made_meanwhile_by_someone_else_is_refused_with_the_reason(
    page: Page, site: Site
) -> None:
    created = _submit_by_api(site)
    sign_in(page, site.evaluator.email, site.evaluator.password)
    page.goto(f"/submissions/{created['id']}")
    with _api(site, site.submitter) as api:
        api.post(f"/submissions/{created['id']}/transitions", json={"to": "withdrawn"})
    page.get_by_role("button", name="Accept for testing").click()
    expect(page.get_by_role("alert")).to_contain_text("cannot move from withdrawn to accepted")
    expect(page.locator(".state-line")).to_have_text("Withdrawn")
    expect(page.locator("ol.timeline li.current")).to_contain_text("Withdrawn")
    with _as_system(site) as ctx:
        assert service.get_submission(ctx, created["id"]).state is State.WITHDRAWN


def test_the_developer_withdraws_after_confirming_and_its_key_is_destroyed(
    page: Page, site: Site
) -> None:
    created = _submit_by_api(site)
    sign_in(page, site.submitter.email, site.submitter.password)
    page.goto(f"/submissions/{created['id']}")
    page.get_by_label("Reason for withdrawing (optional)").fill("release moved")
    dialogs: list[str] = []

    def accept(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    page.get_by_role("button", name="Withdraw").click()
    expect(page.locator(".state-line")).to_have_text("Withdrawn")
    assert dialogs and "API keys are destroyed" in dialogs[0]
    expect(page.get_by_role("cell", name=re.compile(r"^destroyed "))).to_be_visible()
    expect(page.get_by_role("row").filter(has_text="Submitted → Withdrawn")).to_contain_text(
        "release moved"
    )


def test_another_developer_neither_lists_nor_opens_it(page: Page, site: Site) -> None:
    created = _submit_by_api(site)
    with _as_system(site) as ctx:
        rival = create_org(ctx, OrgCreate(name="Rival AI", capacities=["developer"])).id
    other = site.person(rival, "submitter")
    sign_in(page, other.email, other.password)
    page.goto("/submissions")
    expect(page.get_by_text("No submissions")).to_be_visible()
    expect(page.get_by_text("frontier-m1")).to_have_count(0)
    response = page.goto(f"/submissions/{created['id']}")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    expect(page.get_by_text("frontier-m1")).to_have_count(0)


def test_only_a_developers_writers_get_the_form(page: Page, site: Site) -> None:
    sign_in(page, site.vendor.email, site.vendor.password)
    response = page.goto("/submissions/new")
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")
    page.goto("/submissions")
    expect(page.get_by_role("link", name="Submit a model for testing")).to_have_count(0)


def test_a_release_in_the_past_is_refused_and_creates_nothing(page: Page, site: Site) -> None:
    sign_in(page, site.submitter.email, site.submitter.password)
    page.goto("/submissions/new")
    page.get_by_label("Model name").fill("late-model")
    page.get_by_label("Version", exact=True).fill("v0")
    page.get_by_label("Planned release date").fill(
        f"{site.clock.now() - timedelta(days=3):%Y-%m-%d}"
    )
    page.get_by_label("Inspect model string").fill("openai-api/frontier/late")
    page.get_by_label("API key").fill(API_KEY)
    page.get_by_text("Access period, contact and safeguards").click()
    page.get_by_label("Contact name").fill("Ada Lovelace")
    page.get_by_label("Contact email").fill("ada@frontier.example")
    with page.expect_response(lambda r: r.url.endswith("/submissions/new")) as sent:
        page.get_by_role("button", name="Create submission").click()
    assert sent.value.status == 422

    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Planned release date")
    expect(alert).to_contain_text("in the past")
    release = page.get_by_label("Planned release date")
    expect(release).to_have_attribute("aria-invalid", "true")
    expect(release).to_have_attribute("aria-describedby", re.compile(r"\bform-error\b"))
    # What was typed stays, except the key, which is never sent back.
    expect(page.get_by_label("Model name")).to_have_value("late-model")
    expect(page.get_by_label("Contact email")).to_have_value("ada@frontier.example")
    expect(page.get_by_label("API key")).to_have_value("")
    assert API_KEY not in page.content()
    check_page(page, "submission-new-error")
    # Neither the model registered with it nor the submission was kept.
    assert _submissions(site) == []
    assert _model_count(site) == 0


def test_a_model_already_registered_is_picked_from_the_list(page: Page, site: Site) -> None:
    _submit_by_api(site, "frontier-m1", send=False)
    sign_in(page, site.submitter.email, site.submitter.password)
    page.goto("/submissions/new")
    expect(page.get_by_label("Model name")).to_be_hidden()
    page.get_by_role("button", name="Create submission").click()
    expect(page.get_by_label("Model", exact=True)).to_be_focused()  # the browser asks for it
    page.get_by_label("Model", exact=True).select_option(label="frontier-m1 2026-11")
    page.get_by_label("Planned release date").fill(f"{_release_day(site, 25):%Y-%m-%d}")
    page.get_by_label("Inspect model string").fill("openai-api/frontier/m1b")
    page.get_by_label("Send it to the agency now").uncheck()
    page.get_by_role("button", name="Create submission").click()
    expect(page.locator(".state-line")).to_have_text("Draft")
    expect(page.get_by_role("button", name="Send to the agency")).to_be_visible()
    assert _model_count(site) == 1
    assert len(_submissions(site)) == 2


def test_the_list_pages_through_many_submissions(page: Page, site: Site) -> None:
    for n in range(3):
        _submit_by_api(site, f"paged-{n}")
        site.clock.advance(timedelta(minutes=1))  # newest first needs distinct times
    sign_in(page, site.evaluator.email, site.evaluator.password)
    page.goto("/submissions?limit=2")
    expect(page.get_by_role("link", name=re.compile(r"^paged-"))).to_have_count(2)
    page.get_by_role("link", name="Next page").click()
    expect(page.get_by_role("link", name=re.compile(r"^paged-"))).to_have_count(1)
    expect(page.get_by_role("link", name="paged-0 2026-11")).to_be_visible()
    expect(page.get_by_role("link", name="Next page")).to_have_count(0)
    page.get_by_role("link", name="First page").click()
    expect(page.get_by_role("link", name="paged-2 2026-11")).to_be_visible()
    page.get_by_label("State").select_option(label="Accepted")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_text("No submissions in state Accepted")).to_be_visible()
