"""Rules for advisories: drafted by an analyst from a coordinated-disclosure case, published when
a second analyst approves the exact draft they read (by its SHA-256), and only once the case's
embargo has ended (ending it early is an override, approved the same way; see `cases`).

An advisory is one per case, numbered after it (`PDX-2026-0001` → `PDXA-2026-0001`). Every
published revision is kept and readable; a new draft replaces an unapproved one. Its label and
recipients are set by its first draft. Reads go through `_visibility.advisory_audience`: the
agency's analysts see drafts; everyone else sees published revisions by the label rules, and a
CLEAR advisory needs no token at all.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from ..accounts.models import Organization
from ..audit.service import record
from ..canonical import digest
from ..errors import Conflict, NotFound, PermissionDenied
from ..pagination import Page, page_of, paginate
from ..runtime import Context
from . import _standards
from ._visibility import advisory_audience, explain_advisory, sees_everything
from .cases import cvss_out, move_to_disclosed, visible_case
from .models import (
    Advisory,
    AdvisoryRevision,
    Case,
    CaseState,
    CaseVendorStatus,
    CaseVulnerability,
    SharedObject,
    Tlp,
    Vuln,
)
from .schemas import (
    AdvisoryAffected,
    AdvisoryDocument,
    AdvisoryDraftIn,
    AdvisoryOut,
    AdvisoryRevisionOut,
    AdvisoryVulnerability,
    Credit,
    ExplanationOut,
    VendorStatement,
)
from .service import _require_analyst, agency_org_id, check_recipients, set_recipients
from .settings import two_person_rule

_DRAFTABLE = frozenset({CaseState.COORDINATING.value, CaseState.DISCLOSED.value})


def advisory_number(case_number: str) -> str:
    """`PDXA-2026-0001` for case `PDX-2026-0001`."""
    return "PDXA-" + case_number.removeprefix("PDX-")


# --- reading ----------------------------------------------------------------------------------


def _visible(ctx: Context) -> Select[Any]:
    return select(Advisory).where(advisory_audience(ctx.actor, ctx.now()))


def visible_advisory(ctx: Context, ref: str, *, lock: bool = False) -> Advisory:
    """The advisory (by id or `PDXA-...` number) if the caller may see it; NotFound otherwise."""
    upper = ref.upper()
    by = Advisory.number == upper if upper.startswith("PDXA-") else Advisory.id == ref
    query = _visible(ctx).where(by)
    if lock:
        query = query.with_for_update(of=Advisory).execution_options(populate_existing=True)
    advisory = ctx.session.scalar(query)
    if not isinstance(advisory, Advisory):
        raise NotFound(f"advisory {ref} not found")
    return advisory


def published_advisories(ctx: Context) -> list[Advisory]:
    """Every published advisory the caller may see, by number."""
    query = _visible(ctx).where(Advisory.published_at.is_not(None)).order_by(Advisory.number)
    return list(ctx.session.scalars(query))


def published_documents(ctx: Context) -> list[AdvisoryDocument]:
    """The current published revision of every advisory the caller may see, in one query."""
    query = (
        select(AdvisoryRevision.content)
        .join(Advisory, Advisory.id == AdvisoryRevision.advisory_id)
        .where(
            advisory_audience(ctx.actor, ctx.now()),
            AdvisoryRevision.number == Advisory.published_revision,
            AdvisoryRevision.published_at.is_not(None),
        )
        .order_by(Advisory.number)
    )
    return [AdvisoryDocument.model_validate(c) for c in ctx.session.scalars(query)]


def published_revisions(session: Session, advisory_id: str) -> list[AdvisoryRevision]:
    """An advisory's published revisions, oldest first."""
    return [r for r in _revisions(session, advisory_id) if r.published_at is not None]


def _revision_out(row: AdvisoryRevision, *, agency: bool) -> AdvisoryRevisionOut:
    return AdvisoryRevisionOut(
        number=row.number,
        sha256=row.sha256,
        published=row.published_at is not None,
        published_at=row.published_at,
        author_id=row.author_id if agency else None,
        approved_by=row.approved_by if agency else None,
        created_at=row.created_at,
        document=AdvisoryDocument.model_validate(row.content),
    )


def _revisions(session: Session, advisory_id: str) -> list[AdvisoryRevision]:
    return list(
        session.scalars(
            select(AdvisoryRevision)
            .where(AdvisoryRevision.advisory_id == advisory_id)
            .order_by(AdvisoryRevision.number)
        )
    )


def _advisory_out(ctx: Context, advisory: Advisory) -> AdvisoryOut:
    agency = sees_everything(ctx.actor)
    revisions = _revisions(ctx.session, advisory.id)
    published = [r for r in revisions if r.published_at is not None]
    current = next((r for r in published if r.number == advisory.published_revision), None)
    draft = next((r for r in revisions if r.published_at is None), None)
    return AdvisoryOut(
        id=advisory.id,
        number=advisory.number,
        tlp=Tlp(advisory.tlp),
        published_at=advisory.published_at,
        updated_at=advisory.updated_at,
        current=_revision_out(current, agency=agency) if current else None,
        draft=_revision_out(draft, agency=agency) if draft and agency else None,
        revisions=[r.number for r in published],
    )


def get_advisory(ctx: Context, ref: str) -> AdvisoryOut:
    """One advisory the caller may see, by id or `PDXA-...` number."""
    return _advisory_out(ctx, visible_advisory(ctx, ref))


def get_revision(ctx: Context, ref: str, number: int) -> AdvisoryRevisionOut:
    """One published revision of an advisory (the agency also reads the pending draft)."""
    advisory = visible_advisory(ctx, ref)
    agency = sees_everything(ctx.actor)
    row = ctx.session.scalar(
        select(AdvisoryRevision).where(
            AdvisoryRevision.advisory_id == advisory.id, AdvisoryRevision.number == number
        )
    )
    if row is None or (row.published_at is None and not agency):
        raise NotFound(f"advisory {advisory.number} has no revision {number}")
    return _revision_out(row, agency=agency)


def list_advisories(
    ctx: Context, *, cursor: str | None = None, limit: int = 50
) -> Page[AdvisoryOut]:
    """Advisories the caller may see, newest first (the public: published CLEAR ones)."""
    rows = list(
        ctx.session.scalars(
            paginate(_visible(ctx), Advisory.created_at, Advisory.id, cursor, limit)
        )
    )
    return page_of(rows, limit, lambda row: _advisory_out(ctx, row))


def explain(ctx: Context, ref: str, org_id: str, user_id: str | None) -> ExplanationOut:
    """Why an org (or a user of it) can or cannot see an advisory (agency analysts, admins)."""
    if not sees_everything(ctx.actor):
        raise PermissionDenied("only the agency's analysts and admins may ask")
    advisory = visible_advisory(ctx, ref)
    answer = explain_advisory(ctx.session, advisory, org_id, user_id, ctx.now())
    return ExplanationOut(
        object=f"advisory:{advisory.id}",
        org_id=org_id,
        user_id=user_id,
        visible=answer.visible,
        reasons=answer.reasons,
    )


# --- drafting ---------------------------------------------------------------------------------


def _vulnerabilities(session: Session, case_id: str) -> list[AdvisoryVulnerability]:
    rows = session.scalars(
        select(CaseVulnerability)
        .where(CaseVulnerability.case_id == case_id)
        .order_by(CaseVulnerability.created_at, CaseVulnerability.id)
    )
    return [
        AdvisoryVulnerability(
            id=row.id,
            title=row.title,
            cve_id=row.cve_id,
            cwe=row.cwe,
            cvss_v3=cvss_out(row.cvss_v3_vector, row.cvss_v3_score, row.cvss_v3_severity),
            cvss_v4=cvss_out(row.cvss_v4_vector, row.cvss_v4_score, row.cvss_v4_severity),
            ssvc=row.ssvc,
        )
        for row in rows
    ]


def _approved_statements(session: Session, case_id: str) -> list[VendorStatement]:
    rows = session.execute(
        select(CaseVendorStatus, Organization.name)
        .join(Organization, Organization.id == CaseVendorStatus.org_id)
        .where(CaseVendorStatus.case_id == case_id, CaseVendorStatus.approved_at.is_not(None))
        .order_by(Organization.name, CaseVendorStatus.vulnerability_id)
    ).all()
    return [
        VendorStatement(
            vendor=name,
            vulnerability_id=row.vulnerability_id,
            status=row.status,
            statement=row.statement,
        )
        for row, name in rows
    ]


def _case_vulns(session: Session, case_id: str) -> list[Vuln]:
    return list(
        session.scalars(
            select(Vuln).where(Vuln.case_id == case_id).order_by(Vuln.created_at, Vuln.id)
        )
    )


def _affected_from_reports(vulns: list[Vuln]) -> list[AdvisoryAffected]:
    found: dict[str, AdvisoryAffected] = {}
    for vuln in vulns:
        for product in vuln.affected:
            entry = AdvisoryAffected.model_validate(product)
            found.setdefault(digest(entry.model_dump(mode="json")), entry)
        if vuln.model is not None:
            model = {k: vuln.model.get(k) for k in ("developer", "model", "version")}
            entry = AdvisoryAffected.model_validate({"model": model})
            found.setdefault(digest(entry.model_dump(mode="json")), entry)
    return list(found.values())


def _credits_from_reports(session: Session, vulns: list[Vuln]) -> list[Credit]:
    """Reporters who consented to credit (finders if people found it, reporters if their AI
    system did, which is credited as a `TOOL`), then the agency as coordinator."""
    credits: dict[tuple[str, str], Credit] = {}
    for vuln in vulns:
        if not vuln.credit_consent:
            continue
        org = session.get(Organization, vuln.reporter_org_id)
        found_by_ai = vuln.provenance.get("discovered_by") == "ai_system"
        if org is not None:
            kind = "REPORTER" if found_by_ai else "FINDER"
            credits.setdefault((org.name, kind), Credit(name=org.name, type=kind))
        system = vuln.provenance.get("system") or {}
        if found_by_ai and system.get("model"):
            name = f"{system['model']} ({system.get('harness', 'unknown harness')})"
            credits.setdefault((name, "TOOL"), Credit(name=name, type="TOOL"))
    agency_id = agency_org_id(session)
    agency = session.get(Organization, agency_id) if agency_id else None
    if agency is not None:
        credits.setdefault(
            (agency.name, "COORDINATOR"), Credit(name=agency.name, type="COORDINATOR")
        )
    return list(credits.values())


def _checked_affected(affected: list[AdvisoryAffected]) -> list[AdvisoryAffected]:
    out = []
    for index, product in enumerate(affected):
        where = f"affected.{index}"
        changes: dict[str, Any] = {}
        if product.purl is not None:
            changes["purl"] = _standards.parse_purl(product.purl, f"{where}.purl")
        if product.cpe is not None:
            changes["cpe"] = _standards.parse_cpe(product.cpe, f"{where}.cpe")
        if product.ranges:
            changes["ranges"] = _standards.validate_ranges(product.ranges, f"{where}.ranges")
        out.append(product.model_copy(update=changes))
    return out


def _document(
    ctx: Context, advisory: Advisory, case: Case, number: int, data: AdvisoryDraftIn
) -> AdvisoryDocument:
    session = ctx.session
    vulns = _case_vulns(session, case.id)
    vulnerabilities = _vulnerabilities(session, case.id)
    aliases = (
        data.aliases
        if data.aliases is not None
        else sorted({v.cve_id for v in vulnerabilities if v.cve_id})
    )
    affected = data.affected if data.affected is not None else _affected_from_reports(vulns)
    return AdvisoryDocument(
        id=advisory.number,
        revision=number,
        case=case.number,
        tlp=Tlp(advisory.tlp),
        title=data.title,
        summary=data.summary,
        details=data.details,
        aliases=list(dict.fromkeys(aliases)),
        vulnerabilities=vulnerabilities,
        affected=_checked_affected(affected),
        vendor_statements=_approved_statements(session, case.id),
        remediation=data.remediation,
        references=data.references,
        credits=data.credits if data.credits is not None else _credits_from_reports(session, vulns),
    )


def _new_advisory(ctx: Context, case: Case, data: AdvisoryDraftIn) -> Advisory:
    check_recipients(ctx.session, data.recipients, data.tlp)
    now = ctx.now()
    advisory = Advisory(
        number=advisory_number(case.number),
        case_id=case.id,
        tlp=data.tlp.value,
        published_revision=0,
        created_at=now,
        updated_at=now,
    )
    ctx.session.add(advisory)
    ctx.session.flush()
    set_recipients(ctx, SharedObject.ADVISORY, advisory.id, data.recipients)
    return advisory


def draft_advisory(ctx: Context, data: AdvisoryDraftIn) -> AdvisoryOut:
    """Draft an advisory from a coordinating (or already disclosed) case, or a new revision of
    it (analysts). A draft replaces an earlier unapproved one; what is published is exactly
    what the approving analyst read, identified by the SHA-256 this returns."""
    case = visible_case(ctx, data.case, lock=True)
    _require_analyst(ctx.actor, "draft advisories")
    if case.state not in _DRAFTABLE:
        raise Conflict(
            f"case {case.number} is {case.state}: advisories are drafted from coordinating or "
            "disclosed cases",
            field="case",
        )
    advisory = ctx.session.scalar(select(Advisory).where(Advisory.case_id == case.id))
    if advisory is None:
        advisory = _new_advisory(ctx, case, data)
    elif data.tlp.value != advisory.tlp:
        raise Conflict(
            f"advisory {advisory.number} is TLP:{advisory.tlp}; its first draft set the label",
            field="tlp",
        )
    revisions = _revisions(ctx.session, advisory.id)
    replaced = next((r for r in revisions if r.published_at is None), None)
    if replaced is not None:
        ctx.session.delete(replaced)
        ctx.session.flush()
        number = replaced.number
    else:
        number = advisory.published_revision + 1
    document = _document(ctx, advisory, case, number, data)
    content = document.model_dump(mode="json")
    now = ctx.now()
    revision = AdvisoryRevision(
        advisory_id=advisory.id,
        number=number,
        content=content,
        sha256=digest(content),
        author_id=ctx.actor.user_id,
        created_at=now,
    )
    ctx.session.add(revision)
    advisory.updated_at = now
    ctx.session.flush()
    change = {
        "number": advisory.number,
        "case": case.number,
        "revision": number,
        "sha256": revision.sha256,
        "replaced_draft": replaced is not None,
    }
    record(
        ctx,
        "advisory.drafted",
        "advisory",
        advisory.id,
        change,
        org_id=agency_org_id(ctx.session),
        detail=change,
    )
    return _advisory_out(ctx, advisory)


# --- publishing -------------------------------------------------------------------------------


def publish_advisory(ctx: Context, ref: str, draft_sha256: str) -> AdvisoryOut:
    """Publish the pending draft (analysts). Under the two-person rule its author cannot; the
    approver names the draft by the SHA-256 they read, so a draft changed since is refused. The
    case's embargo must have ended (or been ended early by an approved override)."""
    advisory = visible_advisory(ctx, ref, lock=True)
    _require_analyst(ctx.actor, "publish advisories")
    draft = next((r for r in _revisions(ctx.session, advisory.id) if r.published_at is None), None)
    if draft is None:
        raise Conflict(f"advisory {advisory.number} has no draft to publish", field="sha256")
    if draft.sha256 != draft_sha256:
        raise Conflict(
            f"the draft of {advisory.number} is now {draft.sha256}: it changed since you read "
            "it; read it again and publish it by its digest",
            field="sha256",
        )
    rule = two_person_rule(ctx)
    if rule and draft.author_id == ctx.actor.user_id:
        raise PermissionDenied(
            "the two-person rule is on: the draft's author cannot publish it; a second analyst "
            "must approve it"
        )
    case = ctx.session.get(Case, advisory.case_id)
    assert case is not None
    now = ctx.now()
    if case.state not in _DRAFTABLE:
        raise Conflict(f"case {case.number} is {case.state}", field="case")
    if case.embargo_end > now:
        raise Conflict(
            f"case {case.number} is under embargo until {case.embargo_end:%Y-%m-%d %H:%M} UTC: "
            "publish after it, or end it early with an embargo override (which a second "
            "analyst approves)",
            field="embargo_end",
        )
    draft.approved_by, draft.published_at = ctx.actor.user_id, now
    first = advisory.published_revision == 0
    advisory.published_revision, advisory.updated_at = draft.number, now
    if first:
        advisory.published_at, advisory.embargo_end = now, case.embargo_end
    agency = agency_org_id(ctx.session)
    change = {
        "number": advisory.number,
        "revision": draft.number,
        "sha256": draft.sha256,
        "author": draft.author_id,
        "approver": ctx.actor.user_id,
        "two_person_rule": rule,
    }
    record(ctx, "advisory.published", "advisory", advisory.id, change, org_id=agency, detail=change)
    if case.state == CaseState.COORDINATING.value:
        move_to_disclosed(ctx, case, f"advisory {advisory.number} published")
    return _advisory_out(ctx, advisory)
