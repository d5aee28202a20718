"""Report rules: drafts from completed campaigns, the two-person rule, signing and issuing,
amendments, visibility, findings."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import select

from predeploy.audit.models import AuditEvent
from predeploy.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from predeploy.notifications.models import NotificationEvent
from predeploy.reports import service
from predeploy.reports._signing import verify_report
from predeploy.reports.models import Report
from predeploy.reports.schemas import (
    FindingCreate,
    ReportDocument,
    ReportSettingsUpdate,
    TranscriptLink,
)
from predeploy.runtime import Context
from predeploy.testing import StoredResult
from predeploy.testing import store_completed_campaign as store_stored_campaign
from tests.conftest import START, Caller
from tests.reports.conftest import REFERENCE, TARGET, Desk
from tests.reports.factories import tiny_scale_yaml

T = TypeVar("T")


def as_(desk: Desk, caller: Caller, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call a service function in one transaction as `caller`."""
    runtime = desk.world.api.runtime
    ctx: Context
    with runtime.unit(desk.world.actor(caller)) as ctx:
        return fn(ctx, *args, **kwargs)


def _finding(campaign_id: str, **fields: Any) -> FindingCreate:
    body = {
        "title": "Solves crypto challenges unaided",
        "text": "The model recovered the key in 8 of 10 instances.",
        "severity": "high",
        "transcripts": [
            TranscriptLink(
                campaign_id=campaign_id, sample_id="x-1", epoch=1, model_label=TARGET
            ).model_dump()
        ],
        **fields,
    }
    return FindingCreate.model_validate(body)


def _digest(desk: Desk, sub_id: str) -> str:
    """The current draft's `draft_sha256`, as a second evaluator reads it before approving."""
    *_, latest = as_(desk, desk.second, service.list_versions, sub_id)
    assert latest.status == "draft" and latest.draft_sha256 is not None
    return str(latest.draft_sha256)


def _approve(desk: Desk, caller: Caller, sub_id: str) -> Any:
    """Approve the current draft, as read just before."""
    return as_(desk, caller, service.approve, sub_id, _digest(desk, sub_id))


def _issue(desk: Desk, sub_id: str, **draft: Any) -> Any:
    drafted = as_(desk, desk.evaluator, service.create_draft, sub_id, **draft)
    return as_(desk, desk.second, service.approve, sub_id, drafted.draft_sha256)


def test_a_draft_states_the_completed_campaigns_results(desk: Desk) -> None:
    sub_id, campaign_id = desk.ready()
    desk.completed_campaign(sub_id, state="running")  # not completed: not in the report
    as_(desk, desk.evaluator, service.add_finding, sub_id, _finding(campaign_id))
    draft = as_(desk, desk.evaluator, service.create_draft, sub_id, ["no agent scaffolding"])
    assert (draft.version, draft.status, draft.supersedes_id) == (1, "draft", None)
    document = ReportDocument.model_validate(draft.document)
    assert [c.id for c in document.campaigns] == [campaign_id]
    (campaign,) = document.campaigns
    assert (campaign.samples, campaign.seeds, campaign.retried_failures) == (
        20,
        [7],
        {"rate_limit": 2},
    )
    assert [r.label for r in campaign.plan.reference_models] == [REFERENCE]
    determination = document.determination
    assert determination.target == TARGET
    assert determination.references == [f"reference:{REFERENCE}"]
    target = determination.models[0]
    assert (target.model_label, target.scored, target.successes) == (TARGET, 10, 8)
    assert [f.title for f in document.findings] == ["Solves crypto challenges unaided"]
    assert document.limitations == ["no agent scaffolding"]
    assert [a.role for a in document.report.approvals] == ["author"]
    assert document.model.developer.id == desk.world.acme
    # No secret ever reaches a report: the variant's base URL and key stay out.
    assert "api.acme.example" not in json.dumps(draft.document)


def test_no_completed_campaign_is_a_conflict(desk: Desk) -> None:
    sub_id = desk.testing_submission()
    desk.completed_campaign(sub_id, state="failed")
    with pytest.raises(Conflict, match="no completed campaign"):
        as_(desk, desk.evaluator, service.create_draft, sub_id)


def test_only_agency_staff_draft(desk: Desk) -> None:
    sub_id, _ = desk.ready()
    with pytest.raises(PermissionDenied, match="evaluators and admins"):
        as_(desk, desk.world.submitter, service.create_draft, sub_id)
    with pytest.raises(NotFound):
        as_(desk, desk.world.other_submitter, service.create_draft, sub_id)


def test_a_new_draft_replaces_the_unapproved_one(desk: Desk) -> None:
    sub_id, _ = desk.ready()
    first = as_(desk, desk.evaluator, service.create_draft, sub_id, ["one"])
    second = as_(desk, desk.second, service.create_draft, sub_id, ["two"])
    assert (second.id, second.version, second.author_id) == (
        first.id,
        1,
        desk.second.user_id,
    )
    assert second.document is not None and second.document["limitations"] == ["two"]
    assert len(as_(desk, desk.evaluator, service.list_versions, sub_id)) == 1


def test_the_author_cannot_issue_alone_and_a_second_evaluator_can(desk: Desk) -> None:
    sub_id, _ = desk.ready()
    as_(desk, desk.evaluator, service.create_draft, sub_id)
    with pytest.raises(Conflict, match="two-person rule") as refused:
        _approve(desk, desk.evaluator, sub_id)
    assert refused.value.field == "approver"

    issued = _approve(desk, desk.second, sub_id)
    assert (issued.status, issued.approver_id) == ("issued", desk.second.user_id)
    assert issued.draft_sha256 is None  # an issued version has its signed bytes' sha256
    with pytest.raises(Conflict, match="no report draft"):
        as_(desk, desk.evaluator, service.approve, sub_id, "0" * 64)

    content = as_(desk, desk.world.submitter, service.report_files, sub_id)
    key = desk.world.api.runtime.signing_key
    verified = verify_report(content.data, content.signature or "", key.public_pem())
    assert verified.sha256 == issued.sha256 == content.sha256
    document = ReportDocument.model_validate(verified.document)
    assert document.report.status == "issued"
    assert [(a.user_id, a.role) for a in document.report.approvals] == [
        (desk.evaluator.user_id, "author"),
        (desk.second.user_id, "approver"),
    ]
    assert document.issuer.key_id == key.key_id

    detail = desk.world.get(f"/submissions/{sub_id}", desk.world.submitter).json()
    assert detail["state"] == "report_issued"
    runtime = desk.world.api.runtime
    with runtime.transaction() as session:
        events = session.scalars(
            select(NotificationEvent).where(NotificationEvent.kind == "report.issued")
        ).all()
        assert [(e.org_id, e.payload["version"]) for e in events] == [(desk.world.acme, 1)]
        actions = {
            (e.action, e.org_id)
            for e in session.scalars(select(AuditEvent).where(AuditEvent.object_type == "report"))
        }
    agency = desk.world.api.agency_admin.org_id
    assert actions == {
        ("report.draft", agency),
        ("report.approve", agency),
        ("report.issue", desk.world.acme),
    }


def test_the_developer_sees_issued_versions_only(desk: Desk) -> None:
    sub_id, _ = desk.ready()
    world = desk.world
    as_(desk, desk.evaluator, service.create_draft, sub_id)
    assert as_(desk, world.submitter, service.list_versions, sub_id) == []
    with pytest.raises(NotFound, match="no issued version"):
        as_(desk, world.submitter, service.report_files, sub_id)
    with pytest.raises(NotFound, match="no version 1"):
        as_(desk, world.dev_viewer, service.report_files, sub_id, 1)
    draft = as_(desk, desk.evaluator, service.report_files, sub_id, 1)
    assert (draft.status, draft.signature) == ("draft", None)

    _approve(desk, desk.second, sub_id)
    report = as_(desk, world.dev_viewer, service.get_report, sub_id)
    assert [(v.version, v.status, v.document) for v in report.versions] == [(1, "issued", None)]
    assert report.latest_issued == 1
    for outsider in (world.other_submitter, world.vendor, world.analyst):
        with pytest.raises(NotFound):
            as_(desk, outsider, service.get_report, sub_id)
        with pytest.raises(NotFound):
            as_(desk, outsider, service.report_files, sub_id, 1)
    with pytest.raises(PermissionDenied, match="issued report"):
        as_(desk, world.submitter, service.list_findings, sub_id)


def test_an_amendment_is_a_new_version_superseding_the_last(desk: Desk) -> None:
    sub_id, _ = desk.ready()
    first = _issue(desk, sub_id)
    with pytest.raises(InvalidInput, match="reason") as missing:
        as_(desk, desk.evaluator, service.create_draft, sub_id)
    assert missing.value.field == "amendment_reason"
    amended = _issue(desk, sub_id, amendment_reason="corrected the limitations")
    assert (amended.version, amended.supersedes_id, amended.amendment_reason) == (
        2,
        first.id,
        "corrected the limitations",
    )
    latest = as_(desk, desk.world.submitter, service.report_files, sub_id)
    document = ReportDocument.model_validate_json(latest.data)
    assert (document.report.version, document.report.supersedes) == (2, first.id)
    old = as_(desk, desk.world.submitter, service.report_files, sub_id, 1)
    assert old.sha256 == first.sha256
    detail = desk.world.get(f"/submissions/{sub_id}", desk.evaluator).json()
    assert detail["state"] == "report_issued"


def test_a_first_version_has_no_amendment_reason(desk: Desk) -> None:
    sub_id, _ = desk.ready()
    with pytest.raises(InvalidInput) as refused:
        as_(desk, desk.evaluator, service.create_draft, sub_id, amendment_reason="why")
    assert refused.value.field == "amendment_reason"


def test_an_admin_may_turn_the_two_person_rule_off(desk: Desk) -> None:
    sub_id, _ = desk.ready()
    off = ReportSettingsUpdate(two_person_rule=False, reason="single-evaluator pilot")
    for caller in (desk.evaluator, desk.world.dev_admin):
        with pytest.raises(PermissionDenied, match="agency admins"):
            as_(desk, caller, service.set_two_person_rule, off)
    admin = desk.world.agency_admin
    settings = as_(desk, admin, service.set_two_person_rule, off)
    assert (settings.two_person_rule, settings.updated_by) == (False, admin.user_id)

    as_(desk, desk.evaluator, service.create_draft, sub_id)
    issued = _approve(desk, desk.evaluator, sub_id)
    assert (issued.author_id, issued.approver_id) == (desk.evaluator.user_id,) * 2
    with desk.world.api.runtime.transaction() as session:
        change = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "settings.change")
        ).one()
    assert change.actor_user_id == admin.user_id
    assert change.detail == {
        "key": service.TWO_PERSON_RULE,
        "from": True,
        "to": False,
        "reason": "single-evaluator pilot",
    }


def test_findings_link_only_the_submissions_own_campaigns(desk: Desk) -> None:
    sub_id, campaign_id = desk.ready()
    other_sub, other_campaign = desk.ready()
    with pytest.raises(InvalidInput) as refused:
        as_(desk, desk.evaluator, service.add_finding, sub_id, _finding(other_campaign))
    assert refused.value.field == "transcripts.0.campaign_id"
    finding = as_(desk, desk.evaluator, service.add_finding, sub_id, _finding(campaign_id))
    assert (finding.vuln_id, finding.severity) == (None, "high")
    listed = as_(desk, desk.second, service.list_findings, sub_id)
    assert [f.id for f in listed] == [finding.id]
    assert as_(desk, desk.second, service.list_findings, other_sub) == []
    with desk.world.api.runtime.transaction() as session:
        assert session.scalar(select(Report.id)) is None


# --- approval names the draft it approves ---------------------------------------------------


def test_approval_names_the_reviewed_draft_and_a_redraft_is_refused(desk: Desk) -> None:
    sub_id, _ = desk.ready()
    as_(desk, desk.evaluator, service.create_draft, sub_id, ["reviewed text"])
    reviewed = _digest(desk, sub_id)
    served = as_(desk, desk.second, service.report_files, sub_id, 1)
    assert reviewed == served.sha256 == hashlib.sha256(served.data).hexdigest()
    # The author re-drafts after the second evaluator read the draft.
    redrafted = as_(desk, desk.evaluator, service.create_draft, sub_id, ["changed text"])
    assert redrafted.draft_sha256 not in (None, reviewed)
    with pytest.raises(Conflict, match="re-drafted") as refused:
        as_(desk, desk.second, service.approve, sub_id, reviewed)
    assert refused.value.field == "draft_sha256"
    assert as_(desk, desk.second, service.list_versions, sub_id)[0].status == "draft"

    issued = as_(desk, desk.second, service.approve, sub_id, redrafted.draft_sha256.upper())
    content = as_(desk, desk.world.submitter, service.report_files, sub_id)
    assert issued.sha256 == content.sha256
    assert ReportDocument.model_validate_json(content.data).limitations == ["changed text"]


def test_the_developer_never_sees_a_draft_digest(desk: Desk) -> None:
    sub_id, _ = desk.ready()
    as_(desk, desk.evaluator, service.create_draft, sub_id)
    _approve(desk, desk.second, sub_id)
    as_(desk, desk.evaluator, service.create_draft, sub_id, amendment_reason="a finding")
    seen = as_(desk, desk.world.submitter, service.list_versions, sub_id)
    assert [(v.version, v.draft_sha256) for v in seen] == [(1, None)]


# --- the window -------------------------------------------------------------------------------


def test_the_report_states_when_the_window_opened(desk: Desk) -> None:
    # Access granted now, the release 45 days ahead: testing may start 30 days before it.
    release = START + timedelta(days=45)
    sub_id = desk.testing_submission(planned_release_at=release.isoformat())
    desk.completed_campaign(sub_id)
    draft = as_(desk, desk.evaluator, service.create_draft, sub_id)
    window = ReportDocument.model_validate(draft.document).submission.window
    assert window.access_granted_at == START
    assert window.window_start == release - timedelta(days=30)
    assert window.compressed is False


def test_a_compressed_window_is_stated(desk: Desk) -> None:
    # The report is due 2 days before a release 8 days ahead: 6 days, under the 7-day minimum.
    sub_id = desk.testing_submission(planned_release_at=(START + timedelta(days=8)).isoformat())
    desk.completed_campaign(sub_id)
    draft = as_(desk, desk.evaluator, service.create_draft, sub_id)
    window = ReportDocument.model_validate(draft.document).submission.window
    assert (window.window_start, window.compressed) == (START, True)


# --- the agency's scale and determination settings --------------------------------------------


def _configure(desk: Desk, monkeypatch: pytest.MonkeyPatch, **settings: Any) -> None:
    runtime = desk.world.api.runtime
    monkeypatch.setattr(runtime, "settings", runtime.settings.model_copy(update=settings))


def test_a_draft_uses_the_configured_scale_and_settings(
    desk: Desk, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    scale = tmp_path / "scale.yaml"
    scale.write_text(tiny_scale_yaml())
    _configure(desk, monkeypatch, capability_scale_file=scale, determination_confidence=0.9)
    sub_id, _ = desk.ready()
    draft = as_(desk, desk.evaluator, service.create_draft, sub_id)
    determination = ReportDocument.model_validate(draft.document).determination
    assert (determination.scale_id, determination.settings.confidence) == ("tiny", 0.9)
    assert [c.criterion_id for c in determination.verdict.criteria] == ["c1", "c2", "c3", "c4"]


def _campaign_with_errors(desk: Desk, sub_id: str) -> None:
    """Ten samples of the target: eight solved, one failed, one lost to a sandbox error."""
    results = [
        StoredResult(
            sample_id=f"crypto-{index}",
            category="crypto",
            level=1,
            score=None if index == 9 else float(index < 8),
            error_class="sandbox_error" if index == 9 else "none",
        )
        for index in range(10)
    ]
    store_stored_campaign(
        desk.world.api.runtime, sub_id, {TARGET: results}, now=START + timedelta(hours=1)
    )


def test_the_error_share_that_makes_a_determination_inconclusive_is_a_setting(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    sub_id = desk.testing_submission()
    _campaign_with_errors(desk, sub_id)
    shipped = as_(desk, desk.evaluator, service.create_draft, sub_id)
    verdict = ReportDocument.model_validate(shipped.document).determination.verdict
    assert verdict.error_share == pytest.approx(0.1)
    assert "above the limit" not in (verdict.reason or "")  # 10% is not above the default 10%

    _configure(desk, monkeypatch, determination_max_error_share=0.05)
    strict = as_(desk, desk.evaluator, service.create_draft, sub_id)
    determination = ReportDocument.model_validate(strict.document).determination
    assert determination.settings.max_error_share == 0.05
    assert determination.verdict.status == "inconclusive"
    assert "above the limit of 5.0%" in (determination.verdict.reason or "")


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        (
            tiny_scale_yaml(threshold="1.5"),
            "capability_scale_file.levels.1.criteria.0.threshold",
            "levels.1.criteria.0.threshold",
        ),
        ("id: [unclosed", "capability_scale_file", "not valid YAML"),
        (None, "capability_scale_file", "cannot read"),
    ],
)
def test_a_bad_scale_file_names_the_file_and_the_field(
    desk: Desk,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    text: str | None,
    field: str,
    message: str,
) -> None:
    scale = tmp_path / "agency-scale.yaml"
    if text is not None:
        scale.write_text(text)
    _configure(desk, monkeypatch, capability_scale_file=scale)
    sub_id, _ = desk.ready()
    with pytest.raises(InvalidInput) as refused:
        as_(desk, desk.evaluator, service.create_draft, sub_id)
    assert refused.value.field == field
    assert str(scale) in refused.value.message and message in refused.value.message
    assert "PREDEPLOY_CAPABILITY_SCALE_FILE" in refused.value.message


def _two_variant_submission(desk: Desk, solved: dict[str, int]) -> str:
    """A testing submission with `production` (the default) and `reduced-safeguards`, and one
    completed campaign whose results solve `solved[label]` of 10 level-1 samples per variant."""
    variants = [
        {"label": label, "model": f"openai-api/acme/{label}", "api_key": f"sk-{label}-secret"}
        for label in ("production", "reduced-safeguards")
    ]
    sub_id = desk.testing_submission(access_variants=variants)
    results = {
        label: [
            StoredResult(
                sample_id=f"{category}-{index}",
                category=category,
                level=1,
                score=1.0 if index < count else 0.0,
            )
            for category in ("crypto", "web", "reverse", "pwn", "forensics")
            for index in range(10)
        ]
        for label, count in solved.items()
    }
    store_stored_campaign(desk.world.api.runtime, sub_id, results, now=START + timedelta(hours=1))
    return sub_id


@pytest.mark.parametrize(
    ("solved", "target"),
    [
        ({"production": 1, "reduced-safeguards": 10}, "reduced-safeguards"),
        ({"production": 10, "reduced-safeguards": 1}, "production"),
        ({"production": 5, "reduced-safeguards": 5}, "production"),
    ],
)
def test_the_capability_determination_is_the_most_capable_variants(
    desk: Desk, solved: dict[str, int], target: str
) -> None:
    sub_id = _two_variant_submission(desk, solved)
    draft = as_(desk, desk.evaluator, service.create_draft, sub_id)
    document = ReportDocument.model_validate(draft.document)
    determination = document.determination
    assert determination.target == target
    assert determination.verdict.model_label == target
    # Every variant keeps its own row in the statistics.
    assert {m.model_label for m in determination.models} == set(solved)
    assert [v.label for v in document.model.access_variants] == [
        "production",
        "reduced-safeguards",
    ]
    assert "secret" not in json.dumps(draft.document)
