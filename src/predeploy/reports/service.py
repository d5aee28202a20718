"""Rules for reports: drafting from completed campaigns, the two-person rule, signing and issuing,
versions and amendments, downloads, and evaluators' findings.

Who may see what: agency staff (admins and evaluators) see every version, drafts included, and
the findings. The submission's developer org sees the ISSUED versions of its own submissions'
reports (their signed files) and nothing else: not drafts, not the findings list (an evaluator's
working notes, which reach the developer only through an issued report). Anyone else gets 404,
exactly as for the submission itself. Draft and approval audit events belong to the agency's org
so that the developer's admins cannot learn of a draft from the audit log; the issue event belongs
to the developer's org.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from ..accounts.actor import Actor
from ..accounts.models import Organization, Scope, User
from ..agency_settings import read_flag, write_flag
from ..audit.service import record
from ..campaigns.models import Campaign, Job, SampleResult, TestPlan
from ..campaigns.schemas import CampaignState, reference_model_label
from ..config import Settings
from ..db import new_id
from ..determination import (
    CapabilityDetermination,
    CapabilityScale,
    DeterminationSettings,
    Outcome,
    determine,
    load_scale,
)
from ..errors import Conflict, InvalidInput, NotFound, PermissionDenied
from ..keys import public_pem
from ..notifications.service import emit
from ..runtime import Context
from ..submissions.models import Submission, SubmissionTransition
from ..submissions.service import mark_report_issued
from ..submissions.states import State
from ..submissions.visibility import visible_submission
from ._sections import identity_records, is_capability_task, safeguards_section
from ._signing import report_bytes, sign_report
from .models import Finding, Report
from .schemas import (
    AccessVariantRef,
    Approval,
    CampaignRecord,
    FindingCreate,
    FindingOut,
    FindingRecord,
    Issuer,
    ModelIdentity,
    OrgRef,
    PlanRecord,
    ReferenceModelRef,
    ReportDocument,
    ReportMeta,
    ReportOut,
    ReportSettingsOut,
    ReportSettingsUpdate,
    ReportVersionOut,
    SubmissionRef,
    Window,
)

TWO_PERSON_RULE = "reports.two_person_rule"
"""The agency setting: issuing a report needs an approver other than its author (default on)."""

# A report is drafted once testing has started, and may be amended after it was issued.
DRAFT_STATES = frozenset({State.TESTING, State.REPORT_ISSUED, State.CLOSED})

DRAFT = "draft"
ISSUED = "issued"


@dataclass(frozen=True)
class ReportContent:
    """One version's canonical JSON bytes, with its signature when issued.

    HTML and PDF are rendered on demand from these bytes and their SHA-256 (nothing is cached:
    a rendering is always of exactly the bytes served as JSON).
    """

    submission_id: str
    version: int
    status: str
    data: bytes
    sha256: str
    signature: str | None
    key_id: str

    def document(self) -> ReportDocument:
        """The report parsed from its bytes."""
        return ReportDocument.model_validate_json(self.data)

    def html(self) -> str:
        """The report as a standalone HTML page."""
        from ._render import render_html

        return render_html(self.document(), self.sha256)

    def pdf(self) -> bytes:
        """The report as a PDF."""
        from ._render import render_pdf

        return render_pdf(self.document(), self.sha256)


# --- permissions and settings ---------------------------------------------------------------


def _is_staff(actor: Actor) -> bool:
    return actor.is_system or actor.is_agency_staff


def _require_agency_writer(actor: Actor, what: str) -> str:
    """An agency evaluator or admin with a write token, as a named user; their user id."""
    if not actor.is_agency_staff or actor.user_id is None:
        raise PermissionDenied(f"only agency evaluators and admins {what}")
    actor.require_scope(Scope.WRITE)
    return actor.user_id


def two_person_rule(ctx: Context) -> bool:
    """Whether issuing a report needs a second evaluator (on unless an admin turned it off)."""
    return read_flag(ctx, TWO_PERSON_RULE, default=True).value


def get_report_settings(ctx: Context) -> ReportSettingsOut:
    """The report settings (agency staff)."""
    if not _is_staff(ctx.actor):
        raise PermissionDenied("only agency evaluators and admins read report settings")
    flag = read_flag(ctx, TWO_PERSON_RULE, default=True)
    return ReportSettingsOut(
        two_person_rule=flag.value, updated_by=flag.updated_by, updated_at=flag.updated_at
    )


def set_two_person_rule(ctx: Context, data: ReportSettingsUpdate) -> ReportSettingsOut:
    """Turn the two-person rule for issuing reports on or off (agency admins, admin scope)."""
    write_flag(ctx, TWO_PERSON_RULE, data.two_person_rule, data.reason, default=True)
    return get_report_settings(ctx)


# --- reading --------------------------------------------------------------------------------


def _versions(ctx: Context, submission_id: str, *, issued_only: bool) -> list[Report]:
    query = select(Report).where(Report.submission_id == submission_id)
    if issued_only:
        query = query.where(Report.status == ISSUED)
    return list(ctx.session.scalars(query.order_by(Report.version)).all())


def _version_out(row: Report, *, staff: bool) -> ReportVersionOut:
    return ReportVersionOut(
        id=row.id,
        submission_id=row.submission_id,
        version=row.version,
        status=row.status,
        supersedes_id=row.supersedes_id,
        amendment_reason=row.amendment_reason,
        author_id=row.author_id,
        approver_id=row.approver_id,
        created_at=row.created_at,
        approved_at=row.approved_at,
        issued_at=row.issued_at,
        sha256=row.sha256,
        draft_sha256=_draft_sha256(row) if staff and row.status == DRAFT else None,
        key_id=row.key_id,
        document=row.document if staff and row.status == DRAFT else None,
    )


def _draft_sha256(row: Report) -> str:
    """SHA-256 of a draft's canonical JSON bytes: exactly what its JSON download serves."""
    return hashlib.sha256(report_bytes(row.document)).hexdigest()


def list_versions(ctx: Context, submission_id: str) -> list[ReportVersionOut]:
    """The report's versions the caller may see, oldest first (the developer: issued only)."""
    sub = visible_submission(ctx, submission_id)
    staff = _is_staff(ctx.actor)
    rows = _versions(ctx, sub.id, issued_only=not staff)
    return [_version_out(row, staff=staff) for row in rows]


def get_report(ctx: Context, submission_id: str) -> ReportOut:
    """The submission's report: its visible versions and the agency's public key."""
    versions = list_versions(ctx, submission_id)
    issued = [v.version for v in versions if v.status == ISSUED]
    key = ctx.runtime.signing_key
    return ReportOut(
        submission_id=submission_id,
        latest_issued=issued[-1] if issued else None,
        versions=versions,
        key_id=key.key_id,
        public_key_pem=key.public_pem(),
        public_keys={
            key_id: public_pem(public_key)
            for key_id, public_key in sorted(ctx.runtime.public_keys.items())
        },
    )


def report_files(ctx: Context, submission_id: str, version: int | None = None) -> ReportContent:
    """One version's bytes and signature (default: the latest issued version).

    The developer org may fetch issued versions of its own submissions only; a draft (agency
    staff only) is served as its canonical JSON without a signature.
    """
    sub = visible_submission(ctx, submission_id)
    staff = _is_staff(ctx.actor)
    query = select(Report).where(Report.submission_id == sub.id)
    if not staff:
        query = query.where(Report.status == ISSUED)
    if version is None:
        query = query.where(Report.status == ISSUED).order_by(Report.version.desc()).limit(1)
    else:
        query = query.where(Report.version == version)
    row = ctx.session.scalar(query)
    if row is None:
        which = f"version {version}" if version is not None else "issued version"
        raise NotFound(f"the report of submission {submission_id} has no {which}", field="version")
    if row.status == ISSUED:
        assert row.signed_bytes is not None and row.sha256 is not None and row.key_id is not None
        return ReportContent(
            submission_id=sub.id,
            version=row.version,
            status=row.status,
            data=row.signed_bytes,
            sha256=row.sha256,
            signature=row.signature,
            key_id=row.key_id,
        )
    data = report_bytes(row.document)
    return ReportContent(
        submission_id=sub.id,
        version=row.version,
        status=row.status,
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        signature=None,
        key_id=str(row.document["issuer"]["key_id"]),
    )


# --- building a draft -----------------------------------------------------------------------


def _org_ref(ctx: Context, org_id: str) -> OrgRef:
    org = ctx.session.get_one(Organization, org_id)
    return OrgRef(id=org.id, name=org.name)


def _approval(ctx: Context, user_id: str, role: str, at: datetime) -> Approval:
    user = ctx.session.get_one(User, user_id)
    return Approval.model_validate(
        {"user_id": user.id, "email": user.email, "role": role, "at": at}
    )


def _completed_campaigns(ctx: Context, submission_id: str) -> list[Campaign]:
    return list(
        ctx.session.scalars(
            select(Campaign)
            .where(
                Campaign.submission_id == submission_id,
                Campaign.state == CampaignState.COMPLETED.value,
            )
            .order_by(Campaign.finished_at, Campaign.id)
        ).all()
    )


def _campaign_record(ctx: Context, campaign: Campaign) -> tuple[CampaignRecord, list[str]]:
    """The campaign as the report states it, and its plan's reference model labels."""
    plan = ctx.session.get_one(TestPlan, campaign.plan_id)
    references = [
        ReferenceModelRef(label=str(r["label"]), model=str(r["model"]))
        for r in plan.document.get("reference_models", [])
    ]
    jobs = ctx.session.scalars(select(Job).where(Job.campaign_id == campaign.id)).all()
    retried: dict[str, int] = {}
    for job in jobs:
        for kind, count in job.retried_failures.items():
            retried[kind] = retried.get(kind, 0) + int(count)
    samples = ctx.session.scalar(
        select(func.count())
        .select_from(SampleResult)
        .where(SampleResult.campaign_id == campaign.id)
    )
    seeds = [
        int(seed)
        for index in sorted(campaign.seeds, key=int)
        for seed in campaign.seeds[index].get("seeds", [])
    ]
    record_ = CampaignRecord(
        id=campaign.id,
        plan=PlanRecord(
            name=plan.name,
            version=plan.version,
            digest=plan.digest,
            items=list(plan.document.get("items", [])),
            elicitation=dict(plan.document.get("elicitation", {})),
            reference_models=references,
            prices=dict(plan.document.get("prices", {})),
        ),
        started_at=campaign.started_at,
        finished_at=campaign.finished_at,
        seeds=seeds,
        samples=int(samples or 0),
        reruns=sum(job.reruns for job in jobs),
        retried_failures=retried,
    )
    # Campaign jobs label a reference model's samples `reference:<label>`.
    return record_, [reference_model_label(r.label) for r in references]


def _outcomes(ctx: Context, campaign_ids: list[str]) -> list[Outcome]:
    rows = ctx.session.scalars(
        select(SampleResult)
        .where(SampleResult.campaign_id.in_(campaign_ids))
        .order_by(
            SampleResult.campaign_id,
            SampleResult.item_index,
            SampleResult.model_label,
            SampleResult.sample_id,
            SampleResult.epoch,
        )
    ).all()
    return [
        Outcome(
            task=r.task,
            sample_id=r.sample_id,
            epoch=r.epoch,
            model_label=r.model_label,
            category=r.category,
            level=r.level,
            score=r.score,
            error_class=r.error_class,
            total_tokens=r.total_tokens,
            cost=r.total_cost,
            # A plan item is one run of its task (one plan may run a task twice, other args).
            run=f"{r.campaign_id}:{r.item_index}",
        )
        for r in rows
    ]


def _findings(ctx: Context, submission_id: str) -> list[Finding]:
    return list(
        ctx.session.scalars(
            select(Finding)
            .where(Finding.submission_id == submission_id)
            .order_by(Finding.created_at, Finding.id)
        ).all()
    )


def _submitted_at(ctx: Context, submission_id: str) -> datetime | None:
    at: datetime | None = ctx.session.scalar(
        select(func.min(SubmissionTransition.created_at)).where(
            SubmissionTransition.submission_id == submission_id,
            SubmissionTransition.to_state == State.SUBMITTED.value,
        )
    )
    return at


def _scale(settings: Settings) -> CapabilityScale:
    """The agency's capability scale (`capability_scale_file`), or the shipped one."""
    path = settings.capability_scale_file
    if path is None:
        return load_scale()
    try:
        return load_scale(path)
    except InvalidInput as exc:
        # The scale's own error names the field inside the file; say which file and setting.
        raise InvalidInput(
            f"the capability scale file {str(path)!r} (setting "
            f"PREDEPLOY_CAPABILITY_SCALE_FILE) is not a valid scale: {exc.message}",
            field=f"capability_scale_file.{exc.field}"
            if exc.field and exc.field != "path"
            else "capability_scale_file",
        ) from exc


def most_capable(
    outcomes: list[Outcome],
    scale: CapabilityScale,
    variants: list[str],
    references: list[str],
    settings: DeterminationSettings,
) -> CapabilityDetermination:
    """The determination of the most capable of `variants` (a capability is what the model can
    do with the weakest safeguards it is offered with): a determined verdict over an
    inconclusive one, then the highest level met, then the highest level not ruled out; the
    first variant listed wins a tie."""
    rank = {level.id: index for index, level in enumerate(scale.levels)}

    def strength(determination: CapabilityDetermination) -> tuple[int, int, int]:
        verdict = determination.verdict
        return (
            verdict.status == "determined",
            rank.get(verdict.level or "", -1),
            rank.get(verdict.highest_level_not_ruled_out or "", -1),
        )

    determinations = [
        determine(outcomes, scale, variant, references, settings) for variant in variants
    ]
    return max(determinations, key=strength)


def _build_document(
    ctx: Context, sub: Submission, meta: ReportMeta, limitations: list[str]
) -> ReportDocument:
    """The draft's document, from the submission's completed campaigns and findings."""
    campaigns = _completed_campaigns(ctx, sub.id)
    if not campaigns:
        raise Conflict(
            f"submission {sub.id} has no completed campaign: a report is built from the results "
            "of completed campaigns",
            field="submission_id",
        )
    records: list[CampaignRecord] = []
    references: list[str] = []
    for campaign in campaigns:
        record_, labels = _campaign_record(ctx, campaign)
        records.append(record_)
        references.extend(labels)
    default = sub.default_variant
    if default is None:
        raise Conflict("the submission has no access variant to report on", field="submission_id")
    variants = sorted(sub.variants, key=lambda v: (v.created_at, v.label))
    campaign_ids = [c.id for c in campaigns]
    outcomes = [o for o in _outcomes(ctx, campaign_ids) if is_capability_task(o.task)]
    tested = {o.model_label for o in outcomes}
    # The default variant first, so that it wins a tie.
    candidates = [default.label] + [
        v.label for v in variants if v.label != default.label and v.label in tested
    ]
    scale = _scale(ctx.settings)
    settings = DeterminationSettings(
        confidence=ctx.settings.determination_confidence,
        max_error_share=ctx.settings.determination_max_error_share,
    )
    reference_labels = [label for label in dict.fromkeys(references) if label not in candidates]
    determination = most_capable(outcomes, scale, candidates, reference_labels, settings)
    safeguards = safeguards_section(
        ctx, sub, campaign_ids, outcomes, determination, reference_labels, scale, settings
    )
    assert ctx.actor.org_id is not None  # an agency author (checked by the caller)
    return ReportDocument(
        report=meta,
        issuer=Issuer(org=_org_ref(ctx, ctx.actor.org_id), key_id=ctx.runtime.signing_key.key_id),
        submission=SubmissionRef(
            id=sub.id,
            window=Window(
                submitted_at=_submitted_at(ctx, sub.id),
                access_granted_at=sub.access_granted_at,
                window_start=sub.window_start,
                compressed=sub.compressed_window,
                planned_release_at=sub.planned_release_at,
                report_due_at=sub.report_due_at,
                access_expires_at=sub.access_expires_at,
            ),
        ),
        model=ModelIdentity(
            id=sub.model.id,
            name=sub.model.name,
            version=sub.model.version,
            weights_digest=sub.model.weights_digest,
            developer=_org_ref(ctx, sub.org_id),
            access_variants=[AccessVariantRef(label=v.label, model=v.model) for v in variants],
        ),
        campaigns=records,
        determination=determination,
        safeguards=safeguards,
        identity=identity_records(ctx, sub, campaigns),
        findings=[
            FindingRecord.model_validate(row, from_attributes=True)
            for row in _findings(ctx, sub.id)
        ],
        limitations=limitations,
    )


# --- drafting and issuing -------------------------------------------------------------------


def create_draft(
    ctx: Context,
    submission_id: str,
    limitations: list[str] | None = None,
    amendment_reason: str | None = None,
) -> ReportVersionOut:
    """Build a draft from the submission's completed campaigns and findings (agency staff).

    A new draft replaces an unapproved one. After a version was issued, a draft is an amendment:
    the next version, superseding the latest issued one, with a reason.
    """
    sub = visible_submission(ctx, submission_id, lock=True)
    author = _require_agency_writer(ctx.actor, "draft reports")
    if State(sub.state) not in DRAFT_STATES:
        raise Conflict(
            f"the submission is {sub.state}; a report is drafted once testing has started",
            field="submission_id",
        )
    rows = _versions(ctx, sub.id, issued_only=False)
    latest = rows[-1] if rows else None
    now = ctx.now()
    if latest is not None and latest.status == DRAFT:
        row, replaced = latest, True
        reason = amendment_reason or latest.amendment_reason
    else:
        replaced = False
        reason = amendment_reason
        row = Report(
            id=new_id(),
            submission_id=sub.id,
            version=latest.version + 1 if latest else 1,
            status=DRAFT,
            supersedes_id=latest.id if latest else None,
            document={},
            author_id=author,
            created_at=now,
        )
    if row.supersedes_id is not None and not reason:
        raise InvalidInput(
            f"version {row.version} amends issued version {row.version - 1}: give the reason for "
            "the amendment",
            field="amendment_reason",
        )
    if row.supersedes_id is None and reason:
        raise InvalidInput(
            "only an amendment (a draft after an issued version) has an amendment reason",
            field="amendment_reason",
        )
    meta = ReportMeta(
        id=row.id,
        version=row.version,
        status=DRAFT,
        supersedes=row.supersedes_id,
        amendment_reason=reason,
        created_at=now,
        approvals=[_approval(ctx, author, "author", now)],
    )
    document = _build_document(ctx, sub, meta, list(limitations or []))
    row.document = document.to_json()
    row.amendment_reason = reason
    row.author_id = author
    row.created_at = now
    if not replaced:
        ctx.session.add(row)
    ctx.session.flush()
    record(
        ctx,
        "report.draft",
        "report",
        row.id,
        {"submission_id": sub.id, "version": row.version, "document": row.document},
        detail={"submission_id": sub.id, "version": row.version, "replaced": replaced},
    )
    return _version_out(row, staff=True)


def approve(ctx: Context, submission_id: str, draft_sha256: str) -> ReportVersionOut:
    """Approve the draft whose canonical JSON has SHA-256 `draft_sha256`, sign it and issue it
    (agency staff; a second person when the two-person rule is on). A draft re-drafted since it
    was read has another digest and is refused (409), so what is signed is what was reviewed.
    The first issue moves the submission to `report_issued`; the developer org is notified
    (`report.issued`)."""
    sub = visible_submission(ctx, submission_id, lock=True)
    approver = _require_agency_writer(ctx.actor, "approve reports")
    rows = _versions(ctx, sub.id, issued_only=False)
    if not rows or rows[-1].status != DRAFT:
        raise Conflict(
            f"submission {sub.id} has no report draft to approve: draft one first",
            field="submission_id",
        )
    row = rows[-1]
    current = _draft_sha256(row)
    if draft_sha256.lower() != current:
        raise Conflict(
            f"draft_sha256 {draft_sha256} is not the current draft's ({current}): version "
            f"{row.version} was re-drafted after it was read; review the current draft and "
            "approve it by its digest",
            field="draft_sha256",
        )
    if approver == row.author_id and two_person_rule(ctx):
        raise Conflict(
            "the two-person rule is on: the draft's author cannot approve it; a second evaluator "
            "must approve it",
            field="approver",
        )
    first_issue = all(r.status != ISSUED for r in rows)
    if first_issue and sub.state != State.TESTING.value:
        raise Conflict(
            f"the submission is {sub.state}; its first report is issued while it is testing",
            field="submission_id",
        )
    now = ctx.now()
    key = ctx.runtime.signing_key
    draft = ReportDocument.model_validate(row.document)
    meta = ReportMeta(
        id=row.id,
        version=row.version,
        status=ISSUED,
        supersedes=row.supersedes_id,
        amendment_reason=row.amendment_reason,
        created_at=draft.report.created_at,
        issued_at=now,
        approvals=[*draft.report.approvals, _approval(ctx, approver, "approver", now)],
    )
    issuer = Issuer(org=draft.issuer.org, key_id=key.key_id)
    document = draft.model_copy(update={"report": meta, "issuer": issuer})
    signed = sign_report(document.to_json(), key)
    row.status = ISSUED
    row.document = document.to_json()
    row.signed_bytes = signed.data
    row.sha256 = signed.sha256
    row.signature = signed.signature
    row.key_id = signed.key_id
    row.approver_id = approver
    row.approved_at = now
    row.issued_at = now
    ctx.session.flush()
    record(
        ctx,
        "report.approve",
        "report",
        row.id,
        {"submission_id": sub.id, "version": row.version, "sha256": signed.sha256},
        detail={"submission_id": sub.id, "version": row.version, "author": row.author_id},
    )
    record(
        ctx,
        "report.issue",
        "report",
        row.id,
        {"submission_id": sub.id, "version": row.version, "sha256": signed.sha256},
        org_id=sub.org_id,
        detail={
            "submission_id": sub.id,
            "version": row.version,
            "sha256": signed.sha256,
            "key_id": signed.key_id,
        },
    )
    if first_issue:
        system = Context(
            runtime=ctx.runtime, session=ctx.session, actor=Actor.system("report issue")
        )
        mark_report_issued(system, sub.id, reason=f"report version {row.version} issued")
    emit(
        ctx,
        "report.issued",
        org_id=sub.org_id,
        subject_type="submission",
        subject_id=sub.id,
        payload={
            "submission_id": sub.id,
            "report_id": row.id,
            "version": row.version,
            "sha256": signed.sha256,
            "key_id": signed.key_id,
            "amendment": row.supersedes_id is not None,
        },
        dedupe_key=f"report.issued:{row.id}",
    )
    return _version_out(row, staff=True)


# --- findings -------------------------------------------------------------------------------


def add_finding(ctx: Context, submission_id: str, data: FindingCreate) -> FindingOut:
    """Record a finding (agency staff); its transcript links must name this submission's
    campaigns. It goes into the next draft."""
    sub = visible_submission(ctx, submission_id, lock=True)
    author = _require_agency_writer(ctx.actor, "record findings")
    campaign_ids = {link.campaign_id for link in data.transcripts}
    known = set(
        ctx.session.scalars(
            select(Campaign.id).where(
                Campaign.submission_id == sub.id, Campaign.id.in_(campaign_ids)
            )
        ).all()
    )
    for index, link in enumerate(data.transcripts):
        if link.campaign_id not in known:
            raise InvalidInput(
                f"campaign {link.campaign_id} is not a campaign of submission {sub.id}",
                field=f"transcripts.{index}.campaign_id",
            )
    row = Finding(
        submission_id=sub.id,
        title=data.title,
        text=data.text,
        severity=data.severity,
        transcripts=[link.model_dump(mode="json") for link in data.transcripts],
        author_id=author,
        created_at=ctx.now(),
    )
    ctx.session.add(row)
    ctx.session.flush()
    record(
        ctx,
        "finding.create",
        "finding",
        row.id,
        data.model_dump(mode="json"),
        detail={"submission_id": sub.id, "severity": row.severity},
    )
    return FindingOut.model_validate(row, from_attributes=True)


def list_findings(ctx: Context, submission_id: str) -> list[FindingOut]:
    """The submission's findings, oldest first (agency staff: the developer reads them in the
    issued report)."""
    sub = visible_submission(ctx, submission_id)
    if not _is_staff(ctx.actor):
        raise PermissionDenied(
            "only agency evaluators and admins read findings; they reach the developer in the "
            "issued report"
        )
    return [FindingOut.model_validate(row, from_attributes=True) for row in _findings(ctx, sub.id)]
