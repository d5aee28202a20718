"""Rules for coordinated-disclosure cases: opening one from vulnerability reports, its numbered id
(`PDX-2026-0001`), state and embargo, scored vulnerabilities, invited vendors with their
deadlines and per-vulnerability statuses (published once an analyst approves them), and
discussion posts with every revision kept.

Every read goes through `_visibility.case_audience`; a case the caller may not see is NotFound,
exactly like one that does not exist. Writes look the case up under the same rule first, then
check the caller's permission (so a hidden case never answers 403). Every change is audited in
the agency's log.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from ..accounts.models import Capacity, Organization, Role, Scope
from ..audit.service import record
from ..db import upsert_insert
from ..errors import Conflict, InvalidInput, NotFound, PermissionDenied
from ..pagination import Page, page_of, paginate
from ..runtime import Context
from . import _ssvc, _standards
from ._visibility import case_audience, sees_everything, vuln_audience
from .models import (
    Case,
    CaseCounter,
    CasePost,
    CasePostRevision,
    CaseState,
    CaseVendor,
    CaseVendorStatus,
    CaseVulnerability,
    Tlp,
    VendorStatus,
    Vuln,
    VulnStatus,
)
from .schemas import (
    CaseCreate,
    CaseOut,
    CaseStateIn,
    CaseVendorOut,
    CaseVulnerabilityIn,
    CaseVulnerabilityOut,
    Cvss,
    EmbargoOverrideOut,
    PostOut,
    VendorInviteIn,
    VendorStatusIn,
    VendorStatusOut,
)
from .service import _require_analyst, agency_org_id
from .settings import two_person_rule

DEFAULT_EMBARGO_DAYS = 45
"""A new case's embargo ends this many days after opening, at noon UTC (as CERT/CC's VINCE)."""
DEFAULT_VENDOR_DAYS = 14
"""An invited vendor's answer is due this many days after the invitation."""

_CASE_NUMBER = re.compile(r"PDX-\d{4}-\d{4,}", re.IGNORECASE)
_LINKABLE = frozenset({VulnStatus.NEW.value, VulnStatus.TRIAGED.value})
_STATE_MOVES: dict[CaseState, frozenset[CaseState]] = {
    CaseState.OPEN: frozenset({CaseState.COORDINATING, CaseState.CLOSED}),
    CaseState.COORDINATING: frozenset({CaseState.DISCLOSED, CaseState.CLOSED}),
}
_VENDOR_ROLES = (Role.ADMIN, Role.MEMBER)
_POSTING_ROLES = (Role.ADMIN, Role.ANALYST, Role.MEMBER, Role.SUBMITTER)


def default_embargo_end(opened_at: datetime) -> datetime:
    """Noon UTC, `DEFAULT_EMBARGO_DAYS` days after `opened_at`."""
    day = (opened_at.astimezone(UTC) + timedelta(days=DEFAULT_EMBARGO_DAYS)).date()
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


def case_number(year: int, sequence: int) -> str:
    """`PDX-2026-0001`: the year, and the case's place in it (four digits at least)."""
    return f"PDX-{year}-{sequence:04d}"


# --- reading ----------------------------------------------------------------------------------


def _visible(ctx: Context) -> Select[Any]:
    return select(Case).where(case_audience(ctx.actor))


def visible_case(ctx: Context, ref: str, *, lock: bool = False) -> Case:
    """The case (by id or `PDX-...` number) if the caller may see it; NotFound otherwise."""
    by = Case.number == ref.upper() if _CASE_NUMBER.fullmatch(ref) else Case.id == ref
    query = _visible(ctx).where(by)
    if lock:
        query = query.with_for_update(of=Case).execution_options(populate_existing=True)
    case = ctx.session.scalar(query)
    if not isinstance(case, Case):
        raise NotFound(f"case {ref} not found")
    return case


def cvss_out(vector: str | None, score: float | None, severity: str | None) -> Cvss | None:
    """A stored vector and its score, as shown; None without a vector."""
    if vector is None:
        return None
    version = vector.split("/", 1)[0].removeprefix("CVSS:")
    return Cvss(vector=vector, version=version, base_score=score or 0.0, severity=severity or "")


def _vulnerability_out(row: CaseVulnerability) -> CaseVulnerabilityOut:
    return CaseVulnerabilityOut(
        id=row.id,
        title=row.title,
        cve_id=row.cve_id,
        cwe=row.cwe,
        cvss_v3=cvss_out(row.cvss_v3_vector, row.cvss_v3_score, row.cvss_v3_severity),
        cvss_v4=cvss_out(row.cvss_v4_vector, row.cvss_v4_score, row.cvss_v4_severity),
        ssvc=row.ssvc,
        created_at=row.created_at,
    )


def _status_out(row: CaseVendorStatus) -> VendorStatusOut:
    return VendorStatusOut(
        vulnerability_id=row.vulnerability_id,
        status=VendorStatus(row.status),
        statement=row.statement,
        approved=row.approved_at is not None,
        approved_by=row.approved_by,
        approved_at=row.approved_at,
        updated_at=row.updated_at,
    )


def _vendors_out(ctx: Context, case: Case) -> list[CaseVendorOut]:
    now = ctx.now()
    rows = ctx.session.execute(
        select(CaseVendor, Organization.name)
        .join(Organization, Organization.id == CaseVendor.org_id)
        .where(CaseVendor.case_id == case.id)
        .order_by(CaseVendor.created_at, CaseVendor.id)
    ).all()
    statuses = ctx.session.scalars(
        select(CaseVendorStatus)
        .where(CaseVendorStatus.case_id == case.id)
        .order_by(CaseVendorStatus.vulnerability_id)
    ).all()
    agency = sees_everything(ctx.actor)
    out = []
    for vendor, name in rows:
        own = [s for s in statuses if s.org_id == vendor.org_id]
        # An unapproved status is the vendor's draft: only it and the agency see it.
        shown = (
            own
            if agency or vendor.org_id == ctx.actor.org_id
            else [s for s in own if s.approved_at is not None]
        )
        pending = any(s.status == VendorStatus.NOT_YET_ASSESSED.value for s in own)
        out.append(
            CaseVendorOut(
                org_id=vendor.org_id,
                org_name=name,
                deadline=vendor.deadline,
                overdue=pending and now > vendor.deadline,
                invited_at=vendor.created_at,
                statuses=[_status_out(s) for s in shown],
            )
        )
    return out


def _case_out(ctx: Context, case: Case) -> CaseOut:
    session, now = ctx.session, ctx.now()
    vulns = session.scalars(
        select(Vuln.id)
        .where(Vuln.case_id == case.id, vuln_audience(ctx.actor, now))
        .order_by(Vuln.created_at, Vuln.id)
    ).all()
    vulnerabilities = session.scalars(
        select(CaseVulnerability)
        .where(CaseVulnerability.case_id == case.id)
        .order_by(CaseVulnerability.created_at, CaseVulnerability.id)
    ).all()
    posts = session.scalar(
        select(func.count()).select_from(CasePost).where(CasePost.case_id == case.id)
    )
    return CaseOut(
        id=case.id,
        number=case.number,
        title=case.title,
        summary=case.summary,
        state=CaseState(case.state),
        close_reason=case.close_reason,
        tlp=Tlp(case.tlp),
        embargo_end=case.embargo_end,
        embargo_seconds_remaining=max(0, int((case.embargo_end - now).total_seconds())),
        embargo_override=EmbargoOverrideOut(
            requested_by=case.override_requested_by,
            reason=case.override_reason or "",
            requested_at=case.override_requested_at,
        )
        if case.override_requested_at is not None
        else None,
        owner_id=case.owner_id,
        vulns=list(vulns),
        vulnerabilities=[_vulnerability_out(v) for v in vulnerabilities],
        vendors=_vendors_out(ctx, case),
        posts_count=posts or 0,
        created_at=case.created_at,
        updated_at=case.updated_at,
    )


def get_case(ctx: Context, ref: str) -> CaseOut:
    """One case the caller may see, by id or `PDX-...` number."""
    return _case_out(ctx, visible_case(ctx, ref))


def list_cases(
    ctx: Context, *, state: CaseState | None = None, cursor: str | None = None, limit: int = 50
) -> Page[CaseOut]:
    """Cases the caller may see, newest first."""
    query = _visible(ctx)
    if state is not None:
        query = query.where(Case.state == state.value)
    rows = list(ctx.session.scalars(paginate(query, Case.created_at, Case.id, cursor, limit)))
    return page_of(rows, limit, lambda row: _case_out(ctx, row))


# --- opening and moving a case ----------------------------------------------------------------


def _audit(ctx: Context, action: str, case: Case, change: dict[str, Any]) -> None:
    detail = {"number": case.number, **change}
    record(ctx, action, "case", case.id, change, org_id=agency_org_id(ctx.session), detail=detail)


def _next_number(session: Session, year: int) -> str:
    """Allocate the year's next case number with one atomic upsert: the counter row stays
    locked until the transaction ends, so concurrent openings queue and never share a number."""
    insert = upsert_insert(session.get_bind().dialect)
    statement = (
        insert(CaseCounter)
        .values(year=year, last=1)
        .on_conflict_do_update(
            index_elements=[CaseCounter.year], set_={"last": CaseCounter.last + 1}
        )
        .returning(CaseCounter.last)
    )
    sequence = session.execute(statement).scalar_one()
    return case_number(year, sequence)


def _linkable_vulns(session: Session, vuln_ids: list[str]) -> list[Vuln]:
    vulns = []
    for index, vuln_id in enumerate(dict.fromkeys(vuln_ids)):
        field = f"vulns.{index}"
        vuln = session.scalar(select(Vuln).where(Vuln.id == vuln_id).with_for_update())
        if vuln is None:
            raise InvalidInput(f"vulnerability report {vuln_id} does not exist", field=field)
        if vuln.case_id is not None or vuln.status not in _LINKABLE:
            raise Conflict(
                f"vulnerability report {vuln_id} is {vuln.status}: only new and triaged reports "
                "open a case",
                field=field,
            )
        vulns.append(vuln)
    return vulns


def open_case(ctx: Context, data: CaseCreate) -> CaseOut:
    """Open a case from vulnerability reports (agency analysts and admins); each report moves to
    `case_opened` and links to the case."""
    _require_analyst(ctx.actor, "open cases")
    now = ctx.now()
    embargo_end = data.embargo_end or default_embargo_end(now)
    if embargo_end <= now:
        raise InvalidInput("embargo_end is in the past", field="embargo_end")
    vulns = _linkable_vulns(ctx.session, data.vulns)
    case = Case(
        number=_next_number(ctx.session, now.astimezone(UTC).year),
        title=data.title,
        summary=data.summary,
        state=CaseState.OPEN.value,
        tlp=data.tlp.value,
        embargo_end=embargo_end,
        owner_id=ctx.actor.user_id,
        created_at=now,
        updated_at=now,
    )
    ctx.session.add(case)
    ctx.session.flush()
    agency = agency_org_id(ctx.session)
    for vuln in vulns:
        moved = {"from": vuln.status, "to": VulnStatus.CASE_OPENED.value}
        change = {"status": moved, "case": case.number}
        vuln.status, vuln.close_reason = VulnStatus.CASE_OPENED.value, f"case {case.number}"
        vuln.case_id, vuln.updated_at = case.id, now
        record(ctx, "vuln.case_opened", "vuln", vuln.id, change, org_id=agency, detail=change)
    _audit(
        ctx,
        "case.opened",
        case,
        {"vulns": [v.id for v in vulns], "tlp": case.tlp, "embargo_end": embargo_end.isoformat()},
    )
    return _case_out(ctx, case)


def move_case(ctx: Context, ref: str, data: CaseStateIn) -> CaseOut:
    """Move a case to coordinating, disclosed, or closed with a reason (analysts)."""
    case = visible_case(ctx, ref, lock=True)
    _require_analyst(ctx.actor, "move cases")
    current, target = CaseState(case.state), CaseState(data.state)
    if target not in _STATE_MOVES.get(current, frozenset()):
        raise Conflict(f"a {current.value} case cannot become {target.value}", field="state")
    if target is CaseState.CLOSED and data.reason is None:
        raise InvalidInput("closing a case needs a reason", field="reason")
    case.state = target.value
    case.close_reason = data.reason if target is CaseState.CLOSED else None
    case.updated_at = ctx.now()
    change = {"from": current.value, "to": target.value, "reason": data.reason}
    _audit(ctx, "case.state", case, change)
    return _case_out(ctx, case)


def move_to_disclosed(ctx: Context, case: Case, reason: str) -> None:
    """A coordinating case becomes disclosed when its advisory is published."""
    change = {"from": case.state, "to": CaseState.DISCLOSED.value, "reason": reason}
    case.state, case.updated_at = CaseState.DISCLOSED.value, ctx.now()
    _audit(ctx, "case.state", case, change)


def _require_active(case: Case) -> None:
    if case.state in (CaseState.DISCLOSED.value, CaseState.CLOSED.value):
        raise Conflict(f"case {case.number} is {case.state}", field="state")


def set_embargo(ctx: Context, ref: str, embargo_end: datetime) -> CaseOut:
    """Move a case's embargo end (analysts), never to before now: ending an embargo early is
    an override, which needs a second analyst (the advisory's two-person rule)."""
    case = visible_case(ctx, ref, lock=True)
    _require_analyst(ctx.actor, "set embargoes")
    _require_active(case)
    if embargo_end <= ctx.now():
        raise InvalidInput(
            "embargo_end is in the past: ending an embargo early is an override that needs a "
            "second analyst's approval",
            field="embargo_end",
        )
    was = case.embargo_end
    case.embargo_end, case.updated_at = embargo_end, ctx.now()
    _audit(ctx, "case.embargo", case, {"from": was.isoformat(), "to": embargo_end.isoformat()})
    return _case_out(ctx, case)


def request_embargo_override(ctx: Context, ref: str, reason: str) -> CaseOut:
    """Ask to end a case's embargo now (analysts). Under the two-person rule a second analyst
    must approve it; without it, the embargo ends at once."""
    case = visible_case(ctx, ref, lock=True)
    _require_analyst(ctx.actor, "override embargoes")
    _require_active(case)
    now = ctx.now()
    if case.embargo_end <= now:
        raise Conflict(f"the embargo of case {case.number} has already ended", field="embargo_end")
    if case.override_requested_at is not None:
        raise Conflict(
            f"an embargo override of case {case.number} is already awaiting approval",
            field="reason",
        )
    if not two_person_rule(ctx):
        _end_embargo(ctx, case, ctx.actor.user_id, reason)
        return _case_out(ctx, case)
    case.override_requested_by, case.override_reason = ctx.actor.user_id, reason
    case.override_requested_at = case.updated_at = now
    _audit(ctx, "case.embargo_override_requested", case, {"reason": reason})
    return _case_out(ctx, case)


def approve_embargo_override(ctx: Context, ref: str) -> CaseOut:
    """End a case's embargo now, as another analyst asked (analysts; not the one who asked,
    under the two-person rule)."""
    case = visible_case(ctx, ref, lock=True)
    _require_analyst(ctx.actor, "approve embargo overrides")
    _require_active(case)
    if case.override_requested_at is None:
        raise Conflict(f"no embargo override of case {case.number} awaits approval")
    if two_person_rule(ctx) and case.override_requested_by == ctx.actor.user_id:
        raise PermissionDenied(
            "the two-person rule is on: a second analyst must approve the override you asked for"
        )
    _end_embargo(ctx, case, case.override_requested_by, case.override_reason or "")
    return _case_out(ctx, case)


def _end_embargo(ctx: Context, case: Case, requested_by: str | None, reason: str) -> None:
    now = ctx.now()
    was = case.embargo_end
    case.embargo_end = case.updated_at = now
    case.override_requested_by = case.override_reason = case.override_requested_at = None
    change = {
        "from": was.isoformat(),
        "to": now.isoformat(),
        "reason": reason,
        "requested_by": requested_by,
        "approved_by": ctx.actor.user_id,
    }
    _audit(ctx, "case.embargo_overridden", case, change)


# --- vulnerabilities and vendors --------------------------------------------------------------


def _score(vector: str | None, field: str, want_v4: bool) -> _standards.CvssScore | None:
    if vector is None:
        return None
    score = _standards.parse_cvss(vector, field)
    if (score.version == "4.0") != want_v4:
        wanted = "a CVSS 4.0" if want_v4 else "a CVSS 3.0 or 3.1"
        raise InvalidInput(
            f"{field}: expected {wanted} vector, got CVSS {score.version}", field=field
        )
    return score


def add_vulnerability(ctx: Context, ref: str, data: CaseVulnerabilityIn) -> CaseOut:
    """Add a scored vulnerability to a case (analysts); every invited vendor owes a status."""
    case = visible_case(ctx, ref, lock=True)
    _require_analyst(ctx.actor, "add case vulnerabilities")
    _require_active(case)
    now = ctx.now()
    v3 = _score(data.cvss_v3, "cvss_v3", want_v4=False)
    v4 = _score(data.cvss_v4, "cvss_v4", want_v4=True)
    row = CaseVulnerability(
        case_id=case.id,
        title=data.title,
        cve_id=data.cve_id,
        cwe=_standards.parse_cwe(data.cwe) if data.cwe is not None else None,
        cvss_v3_vector=v3.vector if v3 else None,
        cvss_v3_score=v3.base_score if v3 else None,
        cvss_v3_severity=v3.severity if v3 else None,
        cvss_v4_vector=v4.vector if v4 else None,
        cvss_v4_score=v4.base_score if v4 else None,
        cvss_v4_severity=v4.severity if v4 else None,
        ssvc=_ssvc.coordinator_triage_record(data.ssvc, evaluated_at=now)
        if data.ssvc is not None
        else None,
        created_by=ctx.actor.user_id,
        created_at=now,
    )
    ctx.session.add(row)
    ctx.session.flush()
    for org_id in ctx.session.scalars(
        select(CaseVendor.org_id).where(CaseVendor.case_id == case.id)
    ):
        _add_status(ctx, case.id, row.id, org_id)
    case.updated_at = now
    change = {"vulnerability_id": row.id, "cve_id": row.cve_id}
    _audit(ctx, "case.vulnerability_added", case, change)
    return _case_out(ctx, case)


def _add_status(ctx: Context, case_id: str, vulnerability_id: str, org_id: str) -> None:
    ctx.session.add(
        CaseVendorStatus(
            case_id=case_id,
            vulnerability_id=vulnerability_id,
            org_id=org_id,
            status=VendorStatus.NOT_YET_ASSESSED.value,
            updated_by=ctx.actor.user_id,
            updated_at=ctx.now(),
        )
    )


def invite_vendor(ctx: Context, ref: str, data: VendorInviteIn) -> CaseOut:
    """Invite a vendor org to a case with a response deadline (analysts)."""
    case = visible_case(ctx, ref, lock=True)
    _require_analyst(ctx.actor, "invite vendors")
    _require_active(case)
    now = ctx.now()
    org = ctx.session.get(Organization, data.org_id)
    if org is None:
        raise InvalidInput(f"org {data.org_id} does not exist", field="org_id")
    if not org.capacities & {Capacity.VENDOR, Capacity.DEVELOPER}:
        raise InvalidInput(
            f"org {org.name} is not a vendor: only orgs with the vendor or developer capacity "
            "are invited to cases",
            field="org_id",
        )
    deadline = data.deadline or now + timedelta(days=DEFAULT_VENDOR_DAYS)
    if deadline <= now:
        raise InvalidInput("deadline is in the past", field="deadline")
    invited = ctx.session.scalar(
        select(CaseVendor.id).where(CaseVendor.case_id == case.id, CaseVendor.org_id == org.id)
    )
    if invited is not None:
        raise Conflict(f"{org.name} is already invited to case {case.number}", field="org_id")
    ctx.session.add(
        CaseVendor(
            case_id=case.id,
            org_id=org.id,
            deadline=deadline,
            invited_by=ctx.actor.user_id,
            created_at=now,
        )
    )
    for vulnerability_id in ctx.session.scalars(
        select(CaseVulnerability.id).where(CaseVulnerability.case_id == case.id)
    ):
        _add_status(ctx, case.id, vulnerability_id, org.id)
    case.updated_at = now
    _audit(ctx, "case.vendor_invited", case, {"org_id": org.id, "deadline": deadline.isoformat()})
    return _case_out(ctx, case)


def _vendor_status_row(
    ctx: Context, case: Case, org_id: str, vulnerability_id: str
) -> CaseVendorStatus:
    invited = ctx.session.scalar(
        select(CaseVendor.id).where(CaseVendor.case_id == case.id, CaseVendor.org_id == org_id)
    )
    if invited is None:
        raise NotFound(f"org {org_id} is not a vendor of case {case.number}")
    row = ctx.session.scalar(
        select(CaseVendorStatus)
        .where(
            CaseVendorStatus.case_id == case.id,
            CaseVendorStatus.org_id == org_id,
            CaseVendorStatus.vulnerability_id == vulnerability_id,
        )
        .with_for_update()
    )
    if row is None:
        raise InvalidInput(
            f"vulnerability {vulnerability_id} is not one of case {case.number}",
            field="vulnerability_id",
        )
    return row


def set_vendor_status(ctx: Context, ref: str, org_id: str, data: VendorStatusIn) -> CaseOut:
    """A vendor's members (admins and members) set their org's status and statement for one
    vulnerability; a change to an approved one needs approving again."""
    case = visible_case(ctx, ref, lock=True)
    actor = ctx.actor
    actor.require_scope(Scope.WRITE)
    if not (actor.in_org(org_id) and actor.has_role(*_VENDOR_ROLES)):
        raise PermissionDenied("only the vendor's own admins and members set its status")
    _require_active(case)
    row = _vendor_status_row(ctx, case, org_id, data.vulnerability_id)
    change = {
        "vulnerability_id": row.vulnerability_id,
        "status": {"from": row.status, "to": data.status.value},
        "statement_changed": data.statement != row.statement,
        "was_approved": row.approved_at is not None,
    }
    row.status, row.statement = data.status.value, data.statement
    row.updated_by, row.updated_at = actor.user_id, ctx.now()
    row.approved_by, row.approved_at = None, None
    case.updated_at = ctx.now()
    _audit(ctx, "case.vendor_status", case, {"org_id": org_id, **change})
    # Also in the vendor's own log, where its admins see what their members answered.
    record(ctx, "case.vendor_status", "case", case.id, change, detail={"number": case.number})
    return _case_out(ctx, case)


def approve_statement(ctx: Context, ref: str, org_id: str, vulnerability_id: str) -> CaseOut:
    """Approve a vendor's status and statement for publication (analysts)."""
    case = visible_case(ctx, ref, lock=True)
    _require_analyst(ctx.actor, "approve vendor statements")
    row = _vendor_status_row(ctx, case, org_id, vulnerability_id)
    if row.approved_at is not None:
        raise Conflict("this status and statement are approved already", field="vulnerability_id")
    row.approved_by, row.approved_at = ctx.actor.user_id, ctx.now()
    change = {"org_id": org_id, "vulnerability_id": vulnerability_id, "status": row.status}
    _audit(ctx, "case.statement_approved", case, change)
    return _case_out(ctx, case)


# --- posts ------------------------------------------------------------------------------------


def _post_out(post: CasePost, body: str) -> PostOut:
    return PostOut(
        id=post.id,
        author_id=post.author_id,
        author_org_id=post.author_org_id,
        body=body,
        revisions=post.revisions,
        created_at=post.created_at,
        updated_at=post.updated_at,
    )


def list_posts(ctx: Context, ref: str) -> list[PostOut]:
    """A case's posts, oldest first, each with its latest text and how many revisions it has."""
    case = visible_case(ctx, ref)
    rows = ctx.session.execute(
        select(CasePost, CasePostRevision.body)
        .join(
            CasePostRevision,
            (CasePostRevision.post_id == CasePost.id)
            & (CasePostRevision.number == CasePost.revisions),
        )
        .where(CasePost.case_id == case.id)
        .order_by(CasePost.created_at, CasePost.id)
    ).all()
    return [_post_out(post, body) for post, body in rows]


def _add_revision(ctx: Context, post: CasePost, body: str) -> None:
    ctx.session.add(
        CasePostRevision(
            post_id=post.id,
            number=post.revisions,
            body=body,
            created_by=ctx.actor.user_id,
            created_at=ctx.now(),
        )
    )


def add_post(ctx: Context, ref: str, body: str) -> PostOut:
    """Post to a case's discussion (its participants and the agency's analysts)."""
    case = visible_case(ctx, ref)
    actor = ctx.actor
    actor.require_scope(Scope.WRITE)
    if actor.is_system or not actor.has_role(*_POSTING_ROLES):
        raise PermissionDenied("posting needs a participant's member, admin or analyst")
    now = ctx.now()
    post = CasePost(
        case_id=case.id,
        author_id=actor.user_id,
        author_org_id=actor.org_id,
        revisions=1,
        created_at=now,
        updated_at=now,
    )
    ctx.session.add(post)
    ctx.session.flush()
    _add_revision(ctx, post, body)
    _audit(ctx, "case.post_added", case, {"post_id": post.id})
    return _post_out(post, body)


def edit_post(ctx: Context, ref: str, post_id: str, body: str) -> PostOut:
    """Edit one's own post: the new text becomes a new revision, the old ones are kept."""
    case = visible_case(ctx, ref)
    post = ctx.session.scalar(
        select(CasePost)
        .where(CasePost.id == post_id, CasePost.case_id == case.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if post is None:
        raise NotFound(f"post {post_id} not found")
    ctx.actor.require_scope(Scope.WRITE)
    if ctx.actor.is_system or post.author_id != ctx.actor.user_id:
        raise PermissionDenied("only its author edits a post")
    post.revisions += 1
    post.updated_at = ctx.now()
    _add_revision(ctx, post, body)
    _audit(ctx, "case.post_edited", case, {"post_id": post.id, "revision": post.revisions})
    return _post_out(post, body)
