"""Rules for vulnerability reports: intake (validated, fingerprinted, rate-limited), listing and
full-text search under the sharing rules, triage with SSVC, and duplicates (merge and split).

Every read goes through `_visibility.vuln_audience`; a report the caller may not see is NotFound.
Audit events of a report belong to the agency's org, except its filing, which also belongs to the
reporter's (so a reporter org's admins can see what its members filed).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from ..accounts.actor import Actor
from ..accounts.models import Capacity, Membership, Organization, Role, Scope, User
from ..audit.service import record
from ..determination import wilson_interval
from ..errors import Conflict, InvalidInput, NotFound, PermissionDenied, RateLimited
from ..pagination import Page, page_of, paginate
from ..reports.models import Finding
from ..runtime import Context
from ..submissions.models import AiModel, Submission
from . import _dedupe, _search, _ssvc, _standards
from ._visibility import Explanation, explain_vuln, sees_everything, vuln_audience
from .models import (
    CaseVendor,
    OrgClient,
    SharedObject,
    ShareRecipient,
    Tlp,
    Vuln,
    VulnAttachment,
    VulnKind,
    VulnStatus,
)
from .schemas import (
    AttachmentOut,
    Consent,
    Cvss,
    Evidence,
    ExplanationOut,
    FindingToVuln,
    ModelIdentity,
    Provenance,
    Recipients,
    SimilarOut,
    TriageIn,
    VulnCreate,
    VulnOut,
)

_FILING_ROLES = frozenset({Role.ADMIN, Role.ANALYST, Role.EVALUATOR, Role.MEMBER, Role.SUBMITTER})
_CLOSED = frozenset({VulnStatus.DUPLICATE, VulnStatus.DECLINED, VulnStatus.CASE_OPENED})
_TRIAGE_MOVES: dict[VulnStatus, frozenset[VulnStatus]] = {
    VulnStatus.NEW: frozenset({VulnStatus.TRIAGED, VulnStatus.DECLINED, VulnStatus.DUPLICATE}),
    VulnStatus.TRIAGED: frozenset({VulnStatus.TRIAGED, VulnStatus.DECLINED, VulnStatus.DUPLICATE}),
}
SIMILAR_CANDIDATES = 5000
"""How many recent reports of the same kind near-duplicate suggestions compare against."""
MAX_SIMILAR = 50
"""The most near-duplicate suggestions one request may ask for."""


# --- who may do what -----------------------------------------------------------------------------


def _require_filer(actor: Actor) -> str:
    actor.require_scope(Scope.WRITE)
    if actor.org_id is None or not actor.has_role(*_FILING_ROLES):
        raise PermissionDenied("filing a vulnerability report needs a member of an organisation")
    return actor.org_id


def _require_analyst(actor: Actor, what: str) -> None:
    actor.require_scope(Scope.WRITE)
    if not (actor.is_system or (actor.is_agency and actor.has_role(Role.ADMIN, Role.ANALYST))):
        raise PermissionDenied(f"only the agency's analysts and admins {what}")


def agency_org_id(session: Session) -> str | None:
    """The agency's organisation (the clearinghouse's operator), if bootstrapped."""
    agency: str | None = session.scalar(
        select(Organization.id)
        .where(Organization.capacity_rows.any(capacity=Capacity.AGENCY.value))
        .order_by(Organization.created_at, Organization.id)
        .limit(1)
    )
    return agency


# --- reading ----------------------------------------------------------------------------------


def _visible(ctx: Context) -> Select[Any]:
    return select(Vuln).where(vuln_audience(ctx.actor, ctx.now()))


def visible_vuln(ctx: Context, vuln_id: str, *, lock: bool = False) -> Vuln:
    """The report if the caller may see it; NotFound otherwise (even if it exists)."""
    query = _visible(ctx).where(Vuln.id == vuln_id)
    if lock:
        query = query.with_for_update(of=Vuln).execution_options(populate_existing=True)
    vuln = ctx.session.scalar(query)
    if not isinstance(vuln, Vuln):
        raise NotFound(f"vulnerability report {vuln_id} not found")
    return vuln


def _recipients(session: Session, vuln_ids: list[str]) -> dict[str, Recipients]:
    rows = session.scalars(
        select(ShareRecipient).where(
            ShareRecipient.object_type == SharedObject.VULN.value,
            ShareRecipient.object_id.in_(vuln_ids),
        )
    ).all()
    found = {vuln_id: Recipients() for vuln_id in vuln_ids}
    for row in rows:
        if row.org_id is not None:
            found[row.object_id].orgs.append(row.org_id)
        elif row.user_id is not None:
            found[row.object_id].users.append(row.user_id)
    for recipients in found.values():
        recipients.orgs.sort()
        recipients.users.sort()
    return found


def _vuln_outs(ctx: Context, vulns: Sequence[Vuln]) -> list[VulnOut]:
    """The reports as the caller may see them; related rows are read once for all of them."""
    actor = ctx.actor
    ids = [v.id for v in vulns]
    insiders = {v.id for v in vulns if sees_everything(actor) or v.reporter_org_id == actor.org_id}
    originals = {v.duplicate_of_id for v in vulns if v.duplicate_of_id is not None}
    visible_originals = (
        set(
            ctx.session.scalars(
                select(Vuln.id).where(Vuln.id.in_(originals), vuln_audience(actor, ctx.now()))
            )
        )
        if originals
        else set()
    )
    attachments: dict[str, list[AttachmentOut]] = {vuln_id: [] for vuln_id in ids}
    for row in ctx.session.scalars(
        select(VulnAttachment)
        .where(VulnAttachment.vuln_id.in_(ids))
        .order_by(VulnAttachment.created_at, VulnAttachment.id)
    ):
        attachments[row.vuln_id].append(AttachmentOut.model_validate(row, from_attributes=True))
    recipients = _recipients(ctx.session, sorted(insiders)) if insiders else {}
    # The steps to reproduce are a proof of concept: released by `attachments.may_read_payload`'s
    # rule (insiders, and the vendors invited to the report's case), here for a whole page at once.
    cases = {v.case_id for v in vulns if v.case_id is not None and v.id not in insiders}
    vendor_cases = (
        set(
            ctx.session.scalars(
                select(CaseVendor.case_id).where(
                    CaseVendor.case_id.in_(cases), CaseVendor.org_id == actor.org_id
                )
            )
        )
        if cases and actor.org_id is not None
        else set()
    )
    return [
        _vuln_out(
            vuln,
            insider=vuln.id in insiders,
            proof_of_concept=vuln.id in insiders or vuln.case_id in vendor_cases,
            duplicate_of=vuln.duplicate_of_id
            if vuln.duplicate_of_id in visible_originals
            else None,
            attachments=attachments[vuln.id],
            recipients=recipients.get(vuln.id),
        )
        for vuln in vulns
    ]


def _vuln_out(
    vuln: Vuln,
    *,
    insider: bool,
    proof_of_concept: bool,
    duplicate_of: str | None,
    attachments: list[AttachmentOut],
    recipients: Recipients | None,
) -> VulnOut:
    cvss = None
    if vuln.cvss_vector is not None:
        cvss = Cvss(
            vector=vuln.cvss_vector,
            version=vuln.cvss_version or "",
            base_score=vuln.cvss_score or 0.0,
            severity=vuln.cvss_severity or "",
        )
    return VulnOut(
        id=vuln.id,
        kind=VulnKind(vuln.kind),
        title=vuln.title,
        description=vuln.description,
        tlp=Tlp(vuln.tlp),
        embargo_end=vuln.embargo_end,
        status=VulnStatus(vuln.status),
        close_reason=vuln.close_reason,
        priority=vuln.priority,
        assignee_id=vuln.assignee_id if insider else None,
        reporter_org_id=vuln.reporter_org_id if insider or vuln.credit_consent else None,
        discovered_by=vuln.provenance["discovered_by"],
        cwe=vuln.cwe,
        cvss=cvss,
        affected=vuln.affected,
        model=vuln.model,
        technique=vuln.technique,
        root_cause=vuln.root_cause,
        evidence=vuln.evidence
        if proof_of_concept
        else {k: v for k, v in vuln.evidence.items() if k != "steps"},
        provenance=vuln.provenance,
        consent=Consent(share=vuln.share_consent, credit=vuln.credit_consent),
        ssvc=vuln.ssvc,
        fingerprint=vuln.fingerprint,
        duplicate_of=duplicate_of,
        case_id=vuln.case_id,
        finding_id=vuln.finding_id if insider else None,
        recipients=recipients if insider else None,
        attachments=attachments,
        created_at=vuln.created_at,
        updated_at=vuln.updated_at,
    )


def _one_out(ctx: Context, vuln: Vuln) -> VulnOut:
    (out,) = _vuln_outs(ctx, [vuln])
    return out


def get_vuln(ctx: Context, vuln_id: str) -> VulnOut:
    """One report the caller may see."""
    return _one_out(ctx, visible_vuln(ctx, vuln_id))


def list_vulns(
    ctx: Context,
    *,
    status: VulnStatus | None = None,
    kind: VulnKind | None = None,
    tlp: Tlp | None = None,
    q: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[VulnOut]:
    """Reports the caller may see, newest first; `q` searches title and description."""
    query = _visible(ctx)
    if status is not None:
        query = query.where(Vuln.status == status.value)
    if kind is not None:
        query = query.where(Vuln.kind == kind.value)
    if tlp is not None:
        query = query.where(Vuln.tlp == tlp.value)
    if q is not None:
        query = query.where(_search.matches(ctx.session, q))
    rows = list(ctx.session.scalars(paginate(query, Vuln.created_at, Vuln.id, cursor, limit)))
    outs = {out.id: out for out in _vuln_outs(ctx, rows[:limit])}
    return page_of(rows, limit, lambda row: outs[row.id])


def triage_queue(ctx: Context, *, limit: int = 100) -> list[VulnOut]:
    """Open reports (new and triaged), most urgent first, then oldest (analysts)."""
    _require_analyst(ctx.actor, "see the triage queue")
    rows = ctx.session.scalars(
        select(Vuln)
        .where(Vuln.status.in_([VulnStatus.NEW.value, VulnStatus.TRIAGED.value]))
        .order_by(Vuln.priority, Vuln.created_at, Vuln.id)
        .limit(limit)
    ).all()
    return _vuln_outs(ctx, rows)


# --- intake ------------------------------------------------------------------------------------


def _check_rate(ctx: Context, org_id: str) -> None:
    limit = ctx.settings.vuln_rate_limit_per_hour
    since = ctx.now() - timedelta(hours=1)
    filed = ctx.session.scalar(
        select(func.count())
        .select_from(Vuln)
        .where(Vuln.reporter_org_id == org_id, Vuln.created_at > since)
    )
    if (filed or 0) >= limit:
        raise RateLimited(
            f"your organisation has filed {limit} vulnerability reports in the last hour, the "
            "limit; try again later",
            retry_after_seconds=3600,
        )


def _normalised_affected(products: list[Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """The affected products in canonical form, and their version-less keys (for dedupe)."""
    out: list[dict[str, Any]] = []
    keys: list[str] = []
    for index, product in enumerate(products):
        where = f"affected.{index}"
        name = (
            _standards.parse_purl(product.purl, f"{where}.purl")
            if product.purl is not None
            else _standards.parse_cpe(product.cpe or "", f"{where}.cpe")
        )
        entry: dict[str, Any] = {"purl": name} if product.purl is not None else {"cpe": name}
        if product.ranges:
            entry["ranges"] = _standards.validate_ranges(product.ranges, f"{where}.ranges")
        if product.versions:
            entry["versions"] = product.versions
        out.append(entry)
        keys.append(_standards.package_key(name))
    return out, keys


def check_recipients(session: Session, recipients: Recipients, tlp: Tlp) -> None:
    """Every recipient exists, and TLP:RED names its users."""
    for index, org_id in enumerate(recipients.orgs):
        if session.get(Organization, org_id) is None:
            raise InvalidInput(f"org {org_id} does not exist", field=f"recipients.orgs.{index}")
    for index, user_id in enumerate(recipients.users):
        if session.get(User, user_id) is None:
            raise InvalidInput(f"user {user_id} does not exist", field=f"recipients.users.{index}")
    if tlp is Tlp.RED and not recipients.users:
        raise InvalidInput(
            "TLP:RED is for named users only: list them in recipients.users",
            field="recipients.users",
        )


def _evidence(data: VulnCreate) -> dict[str, Any]:
    evidence = data.evidence.model_dump(mode="json")
    trials, successes = data.evidence.trials, data.evidence.successes
    if data.evidence.interval is None and trials is not None and successes is not None:
        low, high = wilson_interval(successes, trials)
        evidence["interval"] = {"low": low, "high": high, "confidence": 0.95, "method": "wilson"}
    return evidence


def _fingerprint(data: VulnCreate, product_keys: list[str], cwe: str | None) -> str:
    technique = data.technique.atlas or data.technique.owasp_llm
    return _dedupe.fingerprint(
        _dedupe.FingerprintParts(
            kind=data.kind.value,
            products=tuple(product_keys),
            cwe=cwe,
            location=data.root_cause,
            technique=technique,
            model_developer=data.model.developer if data.model else None,
            model_name=data.model.model if data.model else None,
        )
    )


def file_vuln(ctx: Context, data: VulnCreate, *, finding_id: str | None = None) -> VulnOut:
    """File a vulnerability report (members of any org; write scope).

    An exact duplicate (same fingerprint) of an earlier report is filed, linked to the original
    and closed as `duplicate` at once.
    """
    org_id = _require_filer(ctx.actor)
    _check_rate(ctx, org_id)
    now = ctx.now()
    if data.embargo_end is not None and data.embargo_end <= now:
        raise InvalidInput("embargo_end is in the past", field="embargo_end")
    check_recipients(ctx.session, data.recipients, data.tlp)
    cwe = _standards.parse_cwe(data.cwe) if data.cwe is not None else None
    cvss = _standards.parse_cvss(data.cvss) if data.cvss is not None else None
    affected, product_keys = _normalised_affected(data.affected)
    technique = {
        "atlas": _standards.parse_atlas_technique(data.technique.atlas)
        if data.technique.atlas
        else None,
        "owasp_llm": _standards.parse_owasp_llm(data.technique.owasp_llm)
        if data.technique.owasp_llm
        else None,
    }
    fingerprint = _fingerprint(data, product_keys, cwe)
    original = ctx.session.scalar(
        select(Vuln)
        .where(Vuln.fingerprint == fingerprint, Vuln.duplicate_of_id.is_(None))
        .order_by(Vuln.created_at, Vuln.id)
        .limit(1)
    )
    vuln = Vuln(
        kind=data.kind.value,
        title=data.title,
        description=data.description,
        tlp=data.tlp.value,
        embargo_end=data.embargo_end,
        status=VulnStatus.NEW.value,
        priority=3,
        reporter_org_id=org_id,
        reporter_user_id=ctx.actor.user_id,
        share_consent=data.consent.share,
        credit_consent=data.consent.credit,
        cwe=cwe,
        cvss_vector=cvss.vector if cvss else None,
        cvss_version=cvss.version if cvss else None,
        cvss_score=cvss.base_score if cvss else None,
        cvss_severity=cvss.severity if cvss else None,
        affected=affected,
        model=data.model.model_dump(mode="json") if data.model else None,
        technique=technique,
        root_cause=data.root_cause,
        evidence=_evidence(data),
        provenance=data.provenance.model_dump(mode="json"),
        fingerprint=fingerprint,
        finding_id=finding_id,
        created_at=now,
        updated_at=now,
    )
    if original is not None:
        vuln.status = VulnStatus.DUPLICATE.value
        vuln.duplicate_of_id = original.id
        vuln.close_reason = f"exact duplicate of {original.id} (fingerprint {fingerprint})"
    ctx.session.add(vuln)
    ctx.session.flush()
    set_recipients(ctx, SharedObject.VULN, vuln.id, data.recipients)
    detail = {"kind": vuln.kind, "tlp": vuln.tlp, "fingerprint": fingerprint}
    change = {"vuln": data.model_dump(mode="json"), "duplicate_of": vuln.duplicate_of_id}
    record(ctx, "vuln.filed", "vuln", vuln.id, change, org_id=org_id, detail=detail)
    agency = agency_org_id(ctx.session)
    if agency is not None and agency != org_id:
        record(ctx, "vuln.filed", "vuln", vuln.id, change, org_id=agency, detail=detail)
    return _one_out(ctx, vuln)


def set_recipients(
    ctx: Context, object_type: SharedObject, object_id: str, recipients: Recipients
) -> None:
    """Record the explicit recipients of a newly shared object."""
    orgs = [(org_id, None) for org_id in dict.fromkeys(recipients.orgs)]
    users = [(None, user_id) for user_id in dict.fromkeys(recipients.users)]
    for org_id, user_id in orgs + users:
        ctx.session.add(
            ShareRecipient(
                object_type=object_type.value,
                object_id=object_id,
                org_id=org_id,
                user_id=user_id,
                added_by=ctx.actor.user_id,
                created_at=ctx.now(),
            )
        )


_PRIORITY_BY_SEVERITY = {"critical": 1, "high": 2, "medium": 3, "low": 4, "info": 5}


def file_from_finding(ctx: Context, data: FindingToVuln) -> VulnOut:
    """Send an evaluator's finding to the clearinghouse as an `ai_model` report (agency
    evaluators and admins), linking the two both ways; a finding is sent once."""
    actor = ctx.actor
    if not actor.is_agency_staff:
        raise PermissionDenied("only the agency's evaluators and admins send findings")
    finding = ctx.session.scalar(
        select(Finding).where(Finding.id == data.finding_id).with_for_update()
    )
    if finding is None:
        raise NotFound(f"finding {data.finding_id} not found", field="finding_id")
    if finding.vuln_id is not None:
        raise Conflict(
            f"the finding was already sent as vulnerability report {finding.vuln_id}",
            field="finding_id",
        )
    sub = ctx.session.get_one(Submission, finding.submission_id)
    model = ctx.session.get_one(AiModel, sub.model_id)
    developer = ctx.session.get_one(Organization, sub.org_id)
    transcripts = ", ".join(
        f"{t['campaign_id']}:{t['sample_id']}:{t.get('epoch', 1)}" for t in finding.transcripts
    )
    vuln_data = VulnCreate(
        kind=VulnKind.AI_MODEL,
        title=finding.title,
        description=finding.text,
        tlp=data.tlp,
        recipients=data.recipients or Recipients(orgs=[developer.id]),
        embargo_end=data.embargo_end,
        cwe=data.cwe,
        cvss=data.cvss,
        model=ModelIdentity(
            developer=developer.name,
            model=model.name,
            version=model.version,
            weights_digest=model.weights_digest,
            tested_on=finding.created_at.date(),
        ),
        technique=data.technique,
        evidence=Evidence(
            steps=f"Pre-release test transcripts: {transcripts}" if transcripts else None
        ),
        provenance=Provenance(discovered_by="human", human_verified=True),
        consent=Consent(share=True, credit=True),
    )
    vuln = file_vuln(ctx, vuln_data, finding_id=finding.id)
    stored = ctx.session.get_one(Vuln, vuln.id)
    stored.priority = _PRIORITY_BY_SEVERITY.get(finding.severity, 3)
    finding.vuln_id = vuln.id
    detail = {"finding_id": finding.id, "vuln_id": vuln.id}
    record(ctx, "finding.sent", "submission", sub.id, detail, detail=detail)
    return vuln.model_copy(update={"priority": stored.priority})


# --- triage -----------------------------------------------------------------------------------


def _analyst_audit(ctx: Context, action: str, vuln: Vuln, change: dict[str, Any]) -> None:
    record(ctx, action, "vuln", vuln.id, change, org_id=agency_org_id(ctx.session), detail=change)


def _check_assignee(session: Session, user_id: str) -> None:
    analyst = session.scalar(
        select(Membership.id)
        .join(Organization, Organization.id == Membership.org_id)
        .where(
            Membership.user_id == user_id,
            Membership.role.in_([Role.ANALYST.value, Role.ADMIN.value]),
            Organization.capacity_rows.any(capacity=Capacity.AGENCY.value),
        )
        .limit(1)
    )
    if analyst is None:
        raise InvalidInput(f"user {user_id} is not an agency analyst or admin", field="assignee_id")


def triage(ctx: Context, vuln_id: str, data: TriageIn) -> VulnOut:
    """Record a triage step (agency analysts and admins): priority, assignee, the SSVC
    Coordinator Triage decision, and a status move with its close reason."""
    vuln = visible_vuln(ctx, vuln_id, lock=True)
    _require_analyst(ctx.actor, "triage vulnerability reports")
    current = VulnStatus(vuln.status)
    change: dict[str, Any] = {}
    if data.status is not None:
        target = VulnStatus(data.status)
        if target not in _TRIAGE_MOVES.get(current, frozenset()):
            raise Conflict(f"a {current.value} report cannot become {target.value}", field="status")
        if target in _CLOSED and data.close_reason is None:
            raise InvalidInput(
                f"closing as {target.value} needs a close_reason", field="close_reason"
            )
        if target is VulnStatus.DUPLICATE:
            if data.duplicate_of is None:
                raise InvalidInput("name the original in duplicate_of", field="duplicate_of")
            _link_duplicate(ctx, vuln, data.duplicate_of)
        elif data.duplicate_of is not None:
            raise InvalidInput("duplicate_of goes with status duplicate", field="duplicate_of")
        vuln.status = target.value
        vuln.close_reason = data.close_reason if target in _CLOSED else None
        change["status"] = {"from": current.value, "to": target.value}
    elif current in _CLOSED:
        raise Conflict(f"the report is {current.value}; split it first to reopen", field="status")
    if data.priority is not None:
        change["priority"] = {"from": vuln.priority, "to": data.priority}
        vuln.priority = data.priority
    if data.assignee_id is not None:
        _check_assignee(ctx.session, data.assignee_id)
        change["assignee_id"] = data.assignee_id
        vuln.assignee_id = data.assignee_id
    if data.ssvc is not None:
        vuln.ssvc = _ssvc.coordinator_triage_record(data.ssvc, evaluated_at=ctx.now())
        change["ssvc"] = vuln.ssvc
    if not change:
        raise InvalidInput("nothing to change: give a status, priority, assignee or ssvc")
    vuln.updated_at = ctx.now()
    _analyst_audit(ctx, "vuln.triaged", vuln, change)
    return _one_out(ctx, vuln)


def _link_duplicate(ctx: Context, vuln: Vuln, original_id: str) -> None:
    if original_id == vuln.id:
        raise InvalidInput("a report cannot duplicate itself", field="duplicate_of")
    original = ctx.session.get(Vuln, original_id)
    if original is None:
        raise InvalidInput(f"report {original_id} does not exist", field="duplicate_of")
    # Link to the root, so that duplicates never form chains or cycles.
    vuln.duplicate_of_id = original.duplicate_of_id or original.id
    if vuln.duplicate_of_id == vuln.id:
        raise InvalidInput(f"report {original_id} is a duplicate of this one", field="duplicate_of")
    for child in ctx.session.scalars(select(Vuln).where(Vuln.duplicate_of_id == vuln.id)):
        child.duplicate_of_id = vuln.duplicate_of_id


def merge(ctx: Context, vuln_id: str, into: str, reason: str) -> VulnOut:
    """Close a report as a duplicate of another (analysts); its own duplicates follow it."""
    return triage(
        ctx,
        vuln_id,
        TriageIn(status="duplicate", duplicate_of=into, close_reason=reason),
    )


def split(ctx: Context, vuln_id: str, reason: str) -> VulnOut:
    """Undo a duplicate link (analysts): the report is triaged again, on its own."""
    vuln = visible_vuln(ctx, vuln_id, lock=True)
    _require_analyst(ctx.actor, "split duplicates")
    if vuln.status != VulnStatus.DUPLICATE.value:
        raise Conflict(f"the report is {vuln.status}, not a duplicate", field="status")
    was = vuln.duplicate_of_id
    vuln.status, vuln.duplicate_of_id, vuln.close_reason = VulnStatus.TRIAGED.value, None, None
    vuln.updated_at = ctx.now()
    _analyst_audit(ctx, "vuln.split", vuln, {"was_duplicate_of": was, "reason": reason})
    return _one_out(ctx, vuln)


def similar_vulns(ctx: Context, vuln_id: str, *, limit: int = 10) -> list[SimilarOut]:
    """Near-duplicates of a report by text similarity, among recent ones of its kind (analysts)."""
    if not 1 <= limit <= MAX_SIMILAR:
        raise InvalidInput(f"limit must be between 1 and {MAX_SIMILAR}", field="limit")
    vuln = visible_vuln(ctx, vuln_id)
    _require_analyst(ctx.actor, "look for near-duplicates")
    rows = ctx.session.execute(
        select(Vuln.id, Vuln.title, Vuln.description, Vuln.status)
        .where(Vuln.kind == vuln.kind, Vuln.id != vuln.id)
        .order_by(Vuln.created_at.desc())
        .limit(SIMILAR_CANDIDATES)
    ).all()
    texts = {row.id: row for row in rows}
    suggestions = _dedupe.similar(
        _dedupe.text_for_similarity(vuln.title, vuln.description),
        [(row.id, _dedupe.text_for_similarity(row.title, row.description)) for row in rows],
        limit=limit,
    )
    return [
        SimilarOut(
            id=s.id,
            title=texts[s.id].title,
            status=VulnStatus(texts[s.id].status),
            score=s.score,
        )
        for s in suggestions
    ]


# --- sharing ----------------------------------------------------------------------------------


def explain(ctx: Context, vuln_id: str, org_id: str, user_id: str | None) -> ExplanationOut:
    """Why an org (or a user of it) can or cannot see a report (agency analysts and admins)."""
    if not sees_everything(ctx.actor):
        raise PermissionDenied("only the agency's analysts and admins may ask")
    vuln = visible_vuln(ctx, vuln_id)
    answer: Explanation = explain_vuln(ctx.session, vuln, org_id, user_id, ctx.now())
    return ExplanationOut(
        object=f"vuln:{vuln.id}",
        org_id=org_id,
        user_id=user_id,
        visible=answer.visible,
        reasons=answer.reasons,
    )


def set_clients(ctx: Context, client_org_ids: list[str]) -> list[str]:
    """Replace the caller's org's declared clients (its admins), to whom TLP:AMBER may pass."""
    actor = ctx.actor
    actor.require_scope(Scope.WRITE)
    if actor.org_id is None or not actor.has_role(Role.ADMIN):
        raise PermissionDenied("only an organisation's admins declare its clients")
    wanted = list(dict.fromkeys(client_org_ids))
    for index, client in enumerate(wanted):
        if client == actor.org_id:
            raise InvalidInput("an org is not its own client", field=f"client_org_ids.{index}")
        if ctx.session.get(Organization, client) is None:
            raise InvalidInput(f"org {client} does not exist", field=f"client_org_ids.{index}")
    for row in ctx.session.scalars(select(OrgClient).where(OrgClient.org_id == actor.org_id)):
        ctx.session.delete(row)
    ctx.session.flush()
    for client in wanted:
        ctx.session.add(
            OrgClient(
                org_id=actor.org_id,
                client_org_id=client,
                declared_by=actor.user_id,
                created_at=ctx.now(),
            )
        )
    record(ctx, "org.clients_set", "organization", actor.org_id, {"clients": wanted})
    return wanted


def list_clients(ctx: Context) -> list[str]:
    """The caller's org's declared clients."""
    if ctx.actor.org_id is None:
        return []
    return list(
        ctx.session.scalars(
            select(OrgClient.client_org_id)
            .where(OrgClient.org_id == ctx.actor.org_id)
            .order_by(OrgClient.client_org_id)
        )
    )
