"""Pages: the clearinghouse. Filing a vulnerability report, the analysts' triage queue and
triage actions (SSVC included), and coordinated-disclosure cases: their reports, invited vendors
and their answers, the embargo, and the discussion.

Every read and change goes through the clearinghouse's services with the signed-in user's
context, so the sharing rules (`clearinghouse._visibility`) decide what each page shows: a report
or case the user may not see is the not-found page, exactly as if it did not exist. The pages
only choose which forms to offer; the services decide who may use them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from ..accounts.models import Capacity, Role
from ..accounts.service import get_org, list_orgs
from ..clearinghouse import advisories, attachments, cases, service
from ..clearinghouse._ssvc import coordinator_triage_table
from ..clearinghouse._visibility import sees_everything
from ..clearinghouse.models import CaseState, Tlp, VendorStatus, VulnKind, VulnStatus
from ..clearinghouse.schemas import (
    AdvisoryDraftIn,
    AdvisoryOut,
    CaseCreate,
    CaseOut,
    CaseStateIn,
    CaseVulnerabilityIn,
    TriageIn,
    VendorInviteIn,
    VendorStatusIn,
    VulnCreate,
    VulnOut,
)
from ..clearinghouse.settings import two_person_rule
from ..errors import (
    InvalidInput,
    NotFound,
    PermissionDenied,
    PredeployError,
    first_validation_error,
)
from ..runtime import Context
from ..web_deps import download
from ._session import PageContext
from ._templates import render

router = APIRouter(include_in_schema=False)

REPORTS = "/clearinghouse/reports"
CASES = "/clearinghouse/cases"
VULN_FORM_PATH = REPORTS + "/new"
"""The vulnerability report form (it takes a proof-of-concept upload)."""
OPEN = "open"
"""The triage queue's filter: new and triaged reports, most urgent first (analysts)."""
ALL = "all"
_OPEN_STATUSES = (VulnStatus.NEW, VulnStatus.TRIAGED)
_Model = TypeVar("_Model", bound=BaseModel)


# --- shared helpers ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    """A refused form: what was tried, the service's message, and the input it concerns."""

    action: str
    message: str
    status_code: int
    target: str | None
    """The id of the form input the message is about, if one is."""


def _failure(action: str, exc: PredeployError, targets: Mapping[str, str]) -> Failure:
    return Failure(action, exc.message, exc.status_code, _target(exc.field, targets))


def _target(field: str | None, targets: Mapping[str, str]) -> str | None:
    """The input for an error's field: the longest field prefix that names one."""
    while field:
        if field in targets:
            return targets[field]
        field = field.rpartition(".")[0]
    return None


def _validated(model: type[_Model], data: Mapping[str, Any]) -> _Model:
    """`data` as `model`; a validation error becomes the service's InvalidInput (with its field)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise first_validation_error(exc) from None


def _utc(text: str, field: str) -> datetime | None:
    """A `datetime-local` input's value, read as UTC; empty is None."""
    text = text.strip()
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"{field}: give a date and time in UTC, e.g. 2026-12-01T12:00", field=field
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _words(text: str) -> list[str]:
    """Ids typed one per line, or separated by commas or spaces."""
    return [word for word in re.split(r"[\s,]+", text) if word]


def _or_none(text: str) -> str | None:
    return text.strip() or None


def _rolled_back(ctx: Context) -> None:
    """Undo whatever a refused change wrote before it failed, before the page is shown again
    (the request's transaction would otherwise commit it)."""
    ctx.session.rollback()


def _org_name(ctx: Context, org_id: str | None) -> str | None:
    """An org's name if the caller may look it up, else its id."""
    if org_id is None:
        return None
    if org_id == ctx.actor.org_id:
        return "your organisation"
    try:
        return get_org(ctx, org_id).name
    except NotFound:
        return org_id


def _local(value: datetime | None) -> str:
    """A time as a `datetime-local` input's value (UTC)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M") if value else ""


# --- filing a report ---------------------------------------------------------------------------


class ReportForm(BaseModel):
    """The vulnerability report form, as typed (empty fields are left out of the report)."""

    kind: str = Field(default="", max_length=20)
    title: str = Field(default="", max_length=300)
    description: str = Field(default="", max_length=100_000)
    product: str = Field(default="", max_length=1000)
    versions: str = Field(default="", max_length=10_000)
    root_cause: str = Field(default="", max_length=500)
    cwe: str = Field(default="", max_length=20)
    cvss: str = Field(default="", max_length=300)
    model_developer: str = Field(default="", max_length=200)
    model_name: str = Field(default="", max_length=200)
    model_version: str = Field(default="", max_length=200)
    tested_on: str = Field(default="", max_length=10)
    atlas: str = Field(default="", max_length=30)
    owasp_llm: str = Field(default="", max_length=10)
    steps: str = Field(default="", max_length=50_000)
    trials: str = Field(default="", max_length=12)
    successes: str = Field(default="", max_length=12)
    discovered_by: str = Field(default="human", max_length=20)
    system_model: str = Field(default="", max_length=300)
    system_harness: str = Field(default="", max_length=300)
    human_verified: bool = False
    tlp: str = Field(default=Tlp.AMBER.value, max_length=20)
    embargo_end: str = Field(default="", max_length=30)
    recipient_orgs: str = Field(default="", max_length=20_000)
    recipient_users: str = Field(default="", max_length=20_000)
    consent_share: bool = False
    consent_credit: bool = False


_REPORT_INPUTS = {
    "kind": "kind-ai_model",
    "title": "title",
    "description": "description",
    "affected": "product",
    "root_cause": "root_cause",
    "cwe": "cwe",
    "cvss": "cvss",
    "model": "model_developer",
    "model.developer": "model_developer",
    "model.model": "model_name",
    "model.version": "model_version",
    "model.tested_on": "tested_on",
    "technique.atlas": "atlas",
    "technique.owasp_llm": "owasp_llm",
    "evidence": "trials",
    "evidence.steps": "steps",
    "evidence.successes": "successes",
    "provenance": "discovered_by-human",
    "provenance.system": "system_model",
    "tlp": "tlp",
    "embargo_end": "embargo_end",
    "recipients": "recipient_orgs",
    "recipients.users": "recipient_users",
    "filename": "poc",
    "media_type": "poc",
    "content": "poc",
}


def _product(text: str, versions: str) -> dict[str, Any]:
    name = text.strip()
    entry: dict[str, Any] = {"cpe": name} if name.startswith("cpe:") else {"purl": name}
    if versions.strip():
        entry["versions"] = _words(versions)
    return entry


def _model(form: ReportForm) -> dict[str, Any] | None:
    if not (form.model_developer or form.model_name or form.model_version):
        return None
    return {
        "developer": form.model_developer,
        "model": form.model_name,
        "version": _or_none(form.model_version),
        "tested_on": form.tested_on or None,
    }


def _vuln_create(form: ReportForm) -> VulnCreate:
    system = None
    if form.system_model or form.system_harness:
        system = {"model": form.system_model, "harness": form.system_harness}
    data = {
        "kind": form.kind,
        "title": form.title,
        "description": form.description,
        "tlp": form.tlp,
        "recipients": {"orgs": _words(form.recipient_orgs), "users": _words(form.recipient_users)},
        "embargo_end": _utc(form.embargo_end, "embargo_end"),
        "cwe": _or_none(form.cwe),
        "cvss": _or_none(form.cvss),
        "affected": [_product(form.product, form.versions)] if form.product.strip() else [],
        "model": _model(form),
        "technique": {"atlas": _or_none(form.atlas), "owasp_llm": _or_none(form.owasp_llm)},
        "root_cause": _or_none(form.root_cause),
        "evidence": {
            "steps": _or_none(form.steps),
            "trials": _or_none(form.trials),
            "successes": _or_none(form.successes),
        },
        "provenance": {
            "discovered_by": form.discovered_by,
            "system": system,
            "human_verified": form.human_verified,
        },
        "consent": {"share": form.consent_share, "credit": form.consent_credit},
    }
    return _validated(VulnCreate, data)


def _report_form(
    request: Request,
    ctx: Context,
    form: ReportForm,
    failure: Failure | None = None,
) -> Response:
    return render(
        request,
        "clearinghouse/report_form.html.j2",
        ctx,
        status_code=failure.status_code if failure else 200,
        form=form,
        failure=failure,
        kinds=list(VulnKind),
        tlps=list(Tlp),
    )


@router.get(VULN_FORM_PATH)
def new_report(request: Request, ctx: PageContext) -> Response:
    """The vulnerability report form."""
    return _report_form(request, ctx, ReportForm())


def _attach_poc(ctx: Context, vuln_id: str, poc: UploadFile) -> None:
    media_type = (poc.content_type or "").split(";", 1)[0].strip().lower()
    # Browsers guess a script's type from its name (text/x-sh...): a proof of concept is an
    # opaque file to us, always served back as a download, so an unlisted type is kept as bytes.
    if media_type not in attachments.VULN_MEDIA_TYPES:
        media_type = "application/octet-stream"
    attachments.add_attachment(
        ctx,
        vuln_id,
        filename=poc.filename or "proof-of-concept",
        media_type=media_type,
        content=poc.file.read(),
        proof_of_concept=True,
    )


@router.post(VULN_FORM_PATH)
def file_report(
    request: Request,
    ctx: PageContext,
    form: Annotated[ReportForm, Form()],
    poc: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """File the report (and its proof of concept, if one is attached) in one transaction."""
    try:
        vuln = service.file_vuln(ctx, _vuln_create(form))
        if poc is not None and poc.filename:
            _attach_poc(ctx, vuln.id, poc)
    except PredeployError as exc:
        _rolled_back(ctx)
        return _report_form(request, ctx, form, _failure("file", exc, _REPORT_INPUTS))
    return RedirectResponse(f"{REPORTS}/{vuln.id}", status_code=303)


# --- the list and the triage queue -------------------------------------------------------------


def _choice(value: str, allowed: list[str], field: str) -> str:
    if value not in allowed:
        raise InvalidInput(f"{field}: choose one of {', '.join(allowed)}", field=field)
    return value


@router.get(REPORTS)
def report_list(
    request: Request,
    ctx: PageContext,
    status: str = "",
    tlp: str = "",
    kind: str = "",
    cursor: str | None = None,
) -> Response:
    """Analysts: the triage queue (open reports, most urgent first) or any status; everyone
    else: the reports they may see (their own org's, and those shared with it)."""
    analyst = sees_everything(ctx.actor)
    statuses = ([OPEN] if analyst else []) + [ALL] + [s.value for s in VulnStatus]
    status = _choice(status or statuses[0], statuses, "status")
    tlp = _choice(tlp, ["", *Tlp], "tlp")
    kind = _choice(kind, ["", *VulnKind], "kind")
    next_cursor = None
    if status == OPEN:
        # The queue is the service's own order (priority, then age); the filters narrow it here.
        items = [
            v
            for v in service.triage_queue(ctx)
            if (not tlp or v.tlp == tlp) and (not kind or v.kind == kind)
        ]
    else:
        page = service.list_vulns(
            ctx,
            status=None if status == ALL else VulnStatus(status),
            tlp=Tlp(tlp) if tlp else None,
            kind=VulnKind(kind) if kind else None,
            cursor=cursor,
        )
        items, next_cursor = page.items, page.next_cursor
    return render(
        request,
        "clearinghouse/reports.html.j2",
        ctx,
        items=items,
        next_cursor=next_cursor,
        analyst=analyst,
        filters={"status": status, "tlp": tlp, "kind": kind},
        statuses=statuses,
        tlps=list(Tlp),
        kinds=list(VulnKind),
    )


# --- one report and its triage -----------------------------------------------------------------

_TRIAGE_INPUTS = {
    "triaged": {"priority": "triage-priority"},
    "declined": {"close_reason": "decline-reason"},
    "duplicate": {"duplicate_of": "duplicate-of", "close_reason": "duplicate-reason"},
    "split": {"reason": "split-reason"},
    "case": {
        "title": "case-title",
        "summary": "case-summary",
        "tlp": "case-tlp",
        "embargo_end": "case-embargo",
        "vulns": "case-title",
    },
}


def _case_of(ctx: Context, vuln: VulnOut) -> str | None:
    """The number of the case the report was taken into, when the caller may see that case."""
    if vuln.case_id is None:
        return None
    try:
        return cases.get_case(ctx, vuln.case_id).number
    except NotFound:
        return None


def _report_page(
    request: Request,
    ctx: Context,
    vuln_id: str,
    *,
    failure: Failure | None = None,
    form: Mapping[str, str] | None = None,
) -> Response:
    vuln = service.get_vuln(ctx, vuln_id)
    analyst = sees_everything(ctx.actor)
    open_report = vuln.status in _OPEN_STATUSES
    similar = service.similar_vulns(ctx, vuln.id, limit=5) if analyst and open_report else []
    return render(
        request,
        "clearinghouse/report.html.j2",
        ctx,
        status_code=failure.status_code if failure else 200,
        vuln=vuln,
        analyst=analyst,
        open_report=open_report,
        similar=similar,
        case_number=_case_of(ctx, vuln),
        reporter=_org_name(ctx, vuln.reporter_org_id),
        failure=failure,
        form=form or {},
        tlps=list(Tlp),
    )


@router.get(REPORTS + "/{vuln_id}")
def report_detail(request: Request, ctx: PageContext, vuln_id: str) -> Response:
    """A report as the user may see it; for analysts, its triage actions."""
    return _report_page(request, ctx, vuln_id)


def _on_report(
    request: Request,
    ctx: Context,
    vuln_id: str,
    action: str,
    form: Mapping[str, str],
    change: Callable[[], str],
) -> Response:
    """Run a change to a report and go where it says; a refused one shows the report again
    with the reason."""
    try:
        target = change()
    except PredeployError as exc:
        _rolled_back(ctx)
        failure = _failure(action, exc, _TRIAGE_INPUTS.get(action, {}))
        return _report_page(request, ctx, vuln_id, failure=failure, form=form)
    return RedirectResponse(target, status_code=303)


@router.post(REPORTS + "/{vuln_id}/triage")
def triage(
    request: Request,
    ctx: PageContext,
    vuln_id: str,
    action: Annotated[str, Form(max_length=20)],
    priority: Annotated[str, Form(max_length=2)] = "",
    close_reason: Annotated[str, Form(max_length=5000)] = "",
    duplicate_of: Annotated[str, Form(max_length=36)] = "",
) -> Response:
    """A triage step: mark triaged (with a priority), decline, or close as a duplicate."""
    form = {"priority": priority, "close_reason": close_reason, "duplicate_of": duplicate_of}

    def change() -> str:
        data = {
            "status": _choice(action, ["triaged", "declined", "duplicate"], "action"),
            "priority": _or_none(priority),
            "close_reason": _or_none(close_reason),
            "duplicate_of": _or_none(duplicate_of),
        }
        service.triage(ctx, vuln_id, _validated(TriageIn, data))
        return f"{REPORTS}/{vuln_id}"

    return _on_report(request, ctx, vuln_id, action, form, change)


@router.post(REPORTS + "/{vuln_id}/split")
def split(
    request: Request,
    ctx: PageContext,
    vuln_id: str,
    reason: Annotated[str, Form(max_length=5000)] = "",
) -> Response:
    """Undo a duplicate link: the report is triaged again on its own."""

    def change() -> str:
        if len(reason.strip()) < 3:
            raise InvalidInput("say why the report is not a duplicate", field="reason")
        service.split(ctx, vuln_id, reason.strip())
        return f"{REPORTS}/{vuln_id}"

    return _on_report(request, ctx, vuln_id, "split", {"reason": reason}, change)


@router.post(REPORTS + "/{vuln_id}/case")
def open_case(
    request: Request,
    ctx: PageContext,
    vuln_id: str,
    title: Annotated[str, Form(max_length=300)] = "",
    summary: Annotated[str, Form(max_length=100_000)] = "",
    tlp: Annotated[str, Form(max_length=20)] = Tlp.AMBER.value,
    embargo_end: Annotated[str, Form(max_length=30)] = "",
) -> Response:
    """Open a coordinated-disclosure case from the report, and go to it."""
    form = {"title": title, "summary": summary, "tlp": tlp, "embargo_end": embargo_end}

    def change() -> str:
        data = {
            "vulns": [vuln_id],
            "title": title,
            "summary": summary,
            "tlp": tlp,
            "embargo_end": _utc(embargo_end, "embargo_end"),
        }
        case = cases.open_case(ctx, _validated(CaseCreate, data))
        return f"{CASES}/{case.number}"

    return _on_report(request, ctx, vuln_id, "case", form, change)


@router.get(REPORTS + "/{vuln_id}/attachments/{attachment_id}")
def attachment(ctx: PageContext, vuln_id: str, attachment_id: str) -> Response:
    """Download an attachment (a proof of concept only for those the service releases it to)."""
    meta, content = attachments.get_attachment(ctx, vuln_id, attachment_id)
    return download(content, meta.media_type, meta.filename, meta.sha256)


# --- SSVC ------------------------------------------------------------------------------------


def _ssvc_page(
    request: Request,
    ctx: Context,
    vuln_id: str,
    chosen: Mapping[str, str],
    failure: Failure | None = None,
) -> Response:
    vuln = service.get_vuln(ctx, vuln_id)
    if not sees_everything(ctx.actor):
        raise PermissionDenied("only the agency's analysts record SSVC decisions")
    table = coordinator_triage_table()
    if not chosen and vuln.ssvc:
        chosen = vuln.ssvc.get("inputs", {})
    return render(
        request,
        "clearinghouse/ssvc.html.j2",
        ctx,
        status_code=failure.status_code if failure else 200,
        vuln=vuln,
        table=table,
        chosen=chosen,
        failure=failure,
    )


@router.get(REPORTS + "/{vuln_id}/ssvc")
def ssvc_form(request: Request, ctx: PageContext, vuln_id: str) -> Response:
    """The SSVC Coordinator Triage form (analysts)."""
    return _ssvc_page(request, ctx, vuln_id, {})


@router.post(REPORTS + "/{vuln_id}/ssvc")
async def ssvc_decide(request: Request, ctx: PageContext, vuln_id: str) -> Response:
    """Record the SSVC decision: one value per decision point of the table."""
    # The decision points are the SSVC package's, so the fields are read by name from the form.
    submitted = await request.form()
    chosen = {
        key.removeprefix("ssvc-"): value
        for key, value in submitted.items()
        if key.startswith("ssvc-") and isinstance(value, str)
    }
    return await run_in_threadpool(_ssvc_decide, request, ctx, vuln_id, chosen)


def _ssvc_decide(request: Request, ctx: Context, vuln_id: str, chosen: dict[str, str]) -> Response:
    try:
        service.triage(ctx, vuln_id, _validated(TriageIn, {"ssvc": chosen}))
    except PredeployError as exc:
        _rolled_back(ctx)
        targets = {f"ssvc.{key}": f"ssvc-{key}" for key in chosen}
        return _ssvc_page(request, ctx, vuln_id, chosen, _failure("ssvc", exc, targets))
    return RedirectResponse(f"{REPORTS}/{vuln_id}", status_code=303)


# --- cases -----------------------------------------------------------------------------------


@router.get(CASES)
def case_list(
    request: Request, ctx: PageContext, state: str = "", cursor: str | None = None
) -> Response:
    """The cases the user may see: every case for analysts, the ones their org is in for others."""
    state = _choice(state, ["", *CaseState], "state")
    page = cases.list_cases(ctx, state=CaseState(state) if state else None, cursor=cursor)
    return render(
        request,
        "clearinghouse/cases.html.j2",
        ctx,
        items=page.items,
        next_cursor=page.next_cursor,
        state=state,
        states=list(CaseState),
    )


_CASE_INPUTS: dict[str, dict[str, str]] = {
    "post": {"body": "post-body"},
    "invite": {"org_id": "invite-org", "deadline": "invite-deadline"},
    "answer": {"status": "answer-status", "statement": "answer-statement"},
    "state": {"state": "state-state", "reason": "state-reason"},
    "embargo": {"embargo_end": "embargo-end"},
    "override": {"reason": "override-reason"},
    "vulnerability": {
        "title": "vulnerability-title",
        "cve_id": "vulnerability-cve",
        "cwe": "vulnerability-cwe",
        "cvss_v3": "vulnerability-cvss3",
        "cvss_v4": "vulnerability-cvss4",
    },
    "advisory": {
        "title": "advisory-title",
        "summary": "advisory-summary",
        "details": "advisory-details",
        "remediation": "advisory-remediation",
        "tlp": "advisory-tlp",
        "references": "advisory-references",
    },
}


def _post_authors(ctx: Context, case: CaseOut) -> dict[str, str]:
    """Names for the orgs that post: the case's vendors, the clearinghouse, and (for analysts)
    every org; other participants stay unnamed."""
    names = {vendor.org_id: vendor.org_name for vendor in case.vendors}
    agency = service.agency_org_id(ctx.session)
    if agency is not None:
        names[agency] = "Clearinghouse"
    if ctx.actor.org_id is not None:
        names[ctx.actor.org_id] = "your organisation"
    return names


def _invitable(ctx: Context, case: CaseOut) -> list[tuple[str, str]]:
    """Vendor and developer orgs not yet in the case (analysts see every org)."""
    invited = {vendor.org_id for vendor in case.vendors}
    return [
        (org.id, org.name)
        for org in list_orgs(ctx, limit=500).items
        if org.id not in invited and {Capacity.VENDOR, Capacity.DEVELOPER} & set(org.capacities)
    ]


def _advisory_of(ctx: Context, case: CaseOut) -> AdvisoryOut | None:
    """The case's advisory, if there is one the user may see (analysts: its draft too)."""
    try:
        return advisories.get_advisory(ctx, advisories.advisory_number(case.number))
    except NotFound:
        return None


def _case_page(
    request: Request,
    ctx: Context,
    ref: str,
    *,
    failure: Failure | None = None,
    form: Mapping[str, str] | None = None,
) -> Response:
    case = cases.get_case(ctx, ref)
    analyst = sees_everything(ctx.actor)
    own = next((v for v in case.vendors if v.org_id == ctx.actor.org_id), None)
    answering = own is not None and ctx.actor.has_role(Role.ADMIN, Role.MEMBER)
    return render(
        request,
        "clearinghouse/case.html.j2",
        ctx,
        status_code=failure.status_code if failure else 200,
        case=case,
        titles={v.id: v.title for v in case.vulnerabilities},
        reports=[service.get_vuln(ctx, vuln_id) for vuln_id in case.vulns],
        posts=cases.list_posts(ctx, case.id),
        authors=_post_authors(ctx, case),
        analyst=analyst,
        own_vendor=own if answering else None,
        invitable=_invitable(ctx, case) if analyst else [],
        advisory=_advisory_of(ctx, case),
        two_person=two_person_rule(ctx),
        active=case.state in (CaseState.OPEN, CaseState.COORDINATING),
        failure=failure,
        form=form or {},
        tlps=list(Tlp),
        vendor_statuses=list(VendorStatus),
        local=_local,
    )


@router.get(CASES + "/{ref}")
def case_detail(request: Request, ctx: PageContext, ref: str) -> Response:
    """A case: its reports, vendors, embargo and discussion, with the forms the user may use."""
    return _case_page(request, ctx, ref)


def _on_case(
    request: Request,
    ctx: Context,
    ref: str,
    action: str,
    form: Mapping[str, str],
    change: Callable[[], str | None],
) -> Response:
    """Run a change to a case and show the case again (or go where the change says)."""
    try:
        target = change()
    except PredeployError as exc:
        _rolled_back(ctx)
        failure = _failure(action, exc, _CASE_INPUTS.get(action, {}))
        return _case_page(request, ctx, ref, failure=failure, form=form)
    return RedirectResponse(target or f"{CASES}/{ref}", status_code=303)


@router.post(CASES + "/{ref}/posts")
def add_post(
    request: Request,
    ctx: PageContext,
    ref: str,
    body: Annotated[str, Form(max_length=50_000)] = "",
) -> Response:
    """Post to the case's discussion."""

    def change() -> str:
        if not body.strip():
            raise InvalidInput("write something to post", field="body")
        post = cases.add_post(ctx, ref, body)
        return f"{CASES}/{ref}#post-{post.id}"

    return _on_case(request, ctx, ref, "post", {"body": body}, change)


@router.post(CASES + "/{ref}/vendors")
def invite_vendor(
    request: Request,
    ctx: PageContext,
    ref: str,
    org_id: Annotated[str, Form(max_length=36)] = "",
    deadline: Annotated[str, Form(max_length=30)] = "",
) -> Response:
    """Invite a vendor org to the case (analysts)."""
    form = {"org_id": org_id, "deadline": deadline}

    def change() -> None:
        data = {"org_id": org_id, "deadline": _utc(deadline, "deadline")}
        cases.invite_vendor(ctx, ref, _validated(VendorInviteIn, data))

    return _on_case(request, ctx, ref, "invite", form, change)


@router.post(CASES + "/{ref}/vendors/{org_id}/status")
def vendor_status(
    request: Request,
    ctx: PageContext,
    ref: str,
    org_id: str,
    vulnerability_id: Annotated[str, Form(max_length=36)] = "",
    status: Annotated[str, Form(max_length=30)] = "",
    statement: Annotated[str, Form(max_length=20_000)] = "",
) -> Response:
    """A vendor's status and statement for one of the case's vulnerabilities."""
    form = {"vulnerability_id": vulnerability_id, "status": status, "statement": statement}

    def change() -> None:
        data = {
            "vulnerability_id": vulnerability_id,
            "status": status,
            "statement": _or_none(statement),
        }
        cases.set_vendor_status(ctx, ref, org_id, _validated(VendorStatusIn, data))

    return _on_case(request, ctx, ref, "answer", form, change)


@router.post(CASES + "/{ref}/vendors/{org_id}/approve")
def approve_statement(
    request: Request,
    ctx: PageContext,
    ref: str,
    org_id: str,
    vulnerability_id: Annotated[str, Form(max_length=36)] = "",
) -> Response:
    """Approve a vendor's status and statement for publication (analysts)."""

    def change() -> None:
        cases.approve_statement(ctx, ref, org_id, vulnerability_id)

    return _on_case(request, ctx, ref, "approve", {}, change)


@router.post(CASES + "/{ref}/state")
def move_case(
    request: Request,
    ctx: PageContext,
    ref: str,
    state: Annotated[str, Form(max_length=20)] = "",
    reason: Annotated[str, Form(max_length=5000)] = "",
) -> Response:
    """Move the case to coordinating, disclosed, or closed (analysts)."""
    form = {"state": state, "reason": reason}

    def change() -> None:
        data = {"state": state, "reason": _or_none(reason)}
        cases.move_case(ctx, ref, _validated(CaseStateIn, data))

    return _on_case(request, ctx, ref, "state", form, change)


@router.post(CASES + "/{ref}/embargo")
def set_embargo(
    request: Request,
    ctx: PageContext,
    ref: str,
    embargo_end: Annotated[str, Form(max_length=30)] = "",
) -> Response:
    """Move the embargo end (analysts; never into the past)."""

    def change() -> None:
        end = _utc(embargo_end, "embargo_end")
        if end is None:
            raise InvalidInput("give the new embargo end", field="embargo_end")
        cases.set_embargo(ctx, ref, end)

    return _on_case(request, ctx, ref, "embargo", {"embargo_end": embargo_end}, change)


@router.post(CASES + "/{ref}/embargo/override")
def request_override(
    request: Request,
    ctx: PageContext,
    ref: str,
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Ask to end the embargo now (a second analyst approves under the two-person rule)."""

    def change() -> None:
        if len(reason.strip()) < 3:
            raise InvalidInput("say why the embargo must end now", field="reason")
        cases.request_embargo_override(ctx, ref, reason.strip())

    return _on_case(request, ctx, ref, "override", {"reason": reason}, change)


@router.post(CASES + "/{ref}/embargo/override/approve")
def approve_override(request: Request, ctx: PageContext, ref: str) -> Response:
    """End the embargo now, as another analyst asked."""

    def change() -> None:
        cases.approve_embargo_override(ctx, ref)

    return _on_case(request, ctx, ref, "override-approve", {}, change)


@router.post(CASES + "/{ref}/vulnerabilities")
def add_vulnerability(
    request: Request,
    ctx: PageContext,
    ref: str,
    title: Annotated[str, Form(max_length=300)] = "",
    cve_id: Annotated[str, Form(max_length=30)] = "",
    cwe: Annotated[str, Form(max_length=20)] = "",
    cvss_v3: Annotated[str, Form(max_length=300)] = "",
    cvss_v4: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    """Add a scored vulnerability to the case (analysts)."""
    form = {"title": title, "cve_id": cve_id, "cwe": cwe, "cvss_v3": cvss_v3, "cvss_v4": cvss_v4}

    def change() -> None:
        data = {key: _or_none(value) for key, value in form.items()}
        cases.add_vulnerability(ctx, ref, _validated(CaseVulnerabilityIn, data))

    return _on_case(request, ctx, ref, "vulnerability", form, change)


@router.post(CASES + "/{ref}/advisory")
def draft_advisory(
    request: Request,
    ctx: PageContext,
    ref: str,
    title: Annotated[str, Form(max_length=300)] = "",
    summary: Annotated[str, Form(max_length=2000)] = "",
    details: Annotated[str, Form(max_length=100_000)] = "",
    remediation: Annotated[str, Form(max_length=20_000)] = "",
    tlp: Annotated[str, Form(max_length=20)] = Tlp.CLEAR.value,
    references: Annotated[str, Form(max_length=200_000)] = "",
) -> Response:
    """Draft the case's advisory (or its next revision), and go to the draft (analysts)."""
    form = {
        "title": title,
        "summary": summary,
        "details": details,
        "remediation": remediation,
        "tlp": tlp,
        "references": references,
    }

    def change() -> str:
        case = cases.get_case(ctx, ref)
        data = {
            "case": case.id,
            "title": title,
            "summary": summary,
            "details": _or_none(details),
            "remediation": remediation,
            "tlp": tlp,
            "references": [{"type": "WEB", "url": url} for url in references.split()],
        }
        drafted = advisories.draft_advisory(ctx, _validated(AdvisoryDraftIn, data))
        return f"/advisories/{drafted.number}"

    return _on_case(request, ctx, ref, "advisory", form, change)
