"""Pages: pre-release test reports. The list, one submission's report (its determination, the
report's own SVG charts, downloads of every version, and for agency staff drafting and
approving, which signs and issues it), and the public page that verifies a report's signature.

A report lives under its submission, so its pages are named by the submission's id. What each
user sees is what the report service shows them: agency staff every version, drafts included;
the developer org the issued versions of its own submissions; anyone else a 404.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup

from ..accounts.actor import Actor
from ..campaigns.schemas import CampaignOut
from ..campaigns.service import list_campaigns
from ..determination import CapabilityDetermination
from ..errors import InvalidInput, NotAuthenticated, NotFound, PredeployError
from ..keys import public_key_id, public_pem
from ..pagination import DEFAULT_LIMIT
from ..reports import service
from ..reports._charts import comparison_chart, percent, solve_rate_chart
from ..reports._signing import ReportVerificationError, verify_report
from ..reports.schemas import ReportDocument, ReportOut, ReportVersionOut
from ..reports.service import DRAFT, ISSUED, ReportContent
from ..runtime import Context
from ..submissions.schemas import SubmissionDetail, SubmissionSummary
from ..submissions.service import get_submission, list_submissions
from ..submissions.states import State
from ..web_deps import call
from ._session import PageContext, PublicFormContext, PublicPageContext
from ._templates import render

router = APIRouter(include_in_schema=False)

VERIFY_PAGE_PATH = "/reports/verify"
"""The public page that checks a report against its signature (uploads as large as an
attachment may be)."""

Format = Literal["json", "html", "pdf", "sig"]

_FILES: dict[str, tuple[str, str]] = {
    "json": ("application/json", "json"),
    "html": ("text/html; charset=utf-8", "html"),
    "pdf": ("application/pdf", "pdf"),
    "sig": ("text/plain; charset=us-ascii", "json.sig"),
}
"""Each download's media type and file-name suffix (as the API serves them)."""

_REPORT_STATES = tuple(sorted(service.DRAFT_STATES, key=list(State).index))
"""The submission states in which a report exists or can be drafted."""


def _is_staff(actor: Actor) -> bool:
    return actor.is_system or actor.is_agency_staff


# --- the list -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Row:
    submission: SubmissionSummary
    latest: ReportVersionOut | None
    """The newest version the user may see."""


def _state_filter(state: str | None) -> State | None:
    if not state:
        return None
    for choice in _REPORT_STATES:
        if choice.value == state:
            return choice
    raise InvalidInput(
        f"state must be one of: {', '.join(s.value for s in _REPORT_STATES)}", field="state"
    )


def _rows(ctx: Context, state: State | None, cursor: str | None) -> tuple[list[_Row], str | None]:
    """Submissions in a report state with their newest visible version, and the next page's
    cursor (a page may hold fewer rows than the limit: other states are left out)."""
    page = list_submissions(ctx, state=state, cursor=cursor, limit=DEFAULT_LIMIT)
    rows = []
    for submission in page.items:
        if submission.state not in service.DRAFT_STATES:
            continue
        versions = service.list_versions(ctx, submission.id)
        rows.append(_Row(submission, versions[-1] if versions else None))
    return rows, page.next_cursor


@router.get("/reports")
async def report_list(
    request: Request, ctx: PageContext, state: str | None = None, cursor: str | None = None
) -> Response:
    """The reports the user may see: submissions being tested or reported on, newest first."""
    chosen = _state_filter(state)
    rows, next_cursor = await call(_rows, ctx, chosen, cursor)
    return render(
        request,
        "reports/list.html.j2",
        ctx,
        rows=rows,
        next_cursor=next_cursor,
        state=chosen.value if chosen else "",
        states=[s.value for s in _REPORT_STATES],
        staff=_is_staff(ctx.actor),
    )


# --- verifying (public) -------------------------------------------------------------------------
# Declared before `/reports/{submission_id}`, which would otherwise take `verify` for an id.


@dataclass(frozen=True)
class _Verdict:
    valid: bool
    message: str
    sha256: str
    """SHA-256 of the report file as uploaded."""
    key_id: str | None
    """The id of the key it was checked with (None: the uploaded key could not be read)."""
    document: ReportDocument | None
    """The verified report (only when valid)."""


def _key_id(pem: bytes) -> str | None:
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, UnsupportedAlgorithm):
        return None
    return public_key_id(key) if isinstance(key, Ed25519PublicKey) else None


async def _read(upload: UploadFile | None, field: str, what: str) -> bytes:
    data = await upload.read() if upload is not None else b""
    if not data:
        raise InvalidInput(f"choose the {what} to upload: none was sent", field=field)
    return data


def _verdict(data: bytes, signature: bytes, key_pem: bytes) -> _Verdict:
    """Check `data` and `signature` with the key, as `predeploy report verify` does."""
    sha256 = hashlib.sha256(data).hexdigest()
    try:
        verified = verify_report(data, signature, key_pem)
    except ReportVerificationError as exc:
        return _Verdict(False, exc.message, sha256, _key_id(key_pem), None)
    document = ReportDocument.model_validate(verified.document)
    return _Verdict(True, "", verified.sha256, verified.key_id, document)


def _render_verify(
    request: Request,
    ctx: Context,
    *,
    verdict: _Verdict | None = None,
    error: PredeployError | None = None,
) -> Response:
    return render(
        request,
        "reports/verify.html.j2",
        ctx,
        status_code=error.status_code if error else 200,
        verdict=verdict,
        error=error.message if error else None,
        error_field=error.field if error else None,
        agency_key_id=ctx.runtime.signing_key.key_id,
    )


@router.get(VERIFY_PAGE_PATH)
async def verify_form(request: Request, ctx: PublicPageContext) -> Response:
    """The form to check a report JSON and its signature (anyone, signed in or not)."""
    return _render_verify(request, ctx)


def _agency_key_for(ctx: Context, data: bytes) -> bytes:
    """The agency public key the report names (its issuer's key id, current or retired by a
    rotation); the current key when it names none this server knows."""
    keys = ctx.runtime.public_keys
    try:
        named = json.loads(data).get("issuer", {}).get("key_id")
    except (ValueError, AttributeError):
        named = None
    key = keys.get(named) if isinstance(named, str) else None
    return (
        public_pem(key).encode()
        if key is not None
        else ctx.runtime.signing_key.public_pem().encode()
    )


@router.post(VERIFY_PAGE_PATH)
async def verify_upload(
    request: Request,
    ctx: PublicFormContext,
    report: Annotated[UploadFile | None, File()] = None,
    signature: Annotated[UploadFile | None, File()] = None,
    public_key: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Check an uploaded report and signature with the agency's public key (or an uploaded
    one): valid or not, with the key id and the report's SHA-256; 422 when a file is missing."""
    try:
        data = await _read(report, "report", "report JSON file")
        signature_text = await _read(signature, "signature", "signature file")
        key_pem = (await public_key.read() if public_key is not None else b"") or _agency_key_for(
            ctx, data
        )
    except InvalidInput as exc:
        return _render_verify(request, ctx, error=exc)
    return _render_verify(request, ctx, verdict=_verdict(data, signature_text, key_pem))


# --- one report ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Chart:
    caption: str
    svg: Markup


@dataclass(frozen=True)
class _Shown:
    """The version the page shows: its document, digest, and the report's own charts."""

    version: ReportVersionOut
    document: ReportDocument
    sha256: str
    criteria_met: int
    confidence: str
    charts: list[_Chart]


@dataclass(frozen=True)
class _ReportPage:
    report: ReportOut
    submission: SubmissionDetail
    campaigns: list[CampaignOut]
    shown: _Shown | None
    draft: ReportVersionOut | None
    """The draft waiting for approval (agency staff)."""
    amends: bool
    """A new draft would amend an issued version (and needs a reason)."""
    two_person_rule: bool
    may_approve: bool


def _charts(determination: CapabilityDetermination) -> list[_Chart]:
    """The charts of the HTML report (presentation attributes only, no style: the pages' CSP
    allows no inline style), each escaping every text it draws."""
    confidence = percent(determination.settings.confidence)
    charts = [
        _Chart(
            f"Solve rate of {determination.target} by category and suite level, with "
            f"{confidence} Wilson intervals; dashed lines are criterion thresholds.",
            Markup(solve_rate_chart(determination)),  # noqa: S704 (the chart escapes its text)
        )
    ]
    for index, reference in enumerate(determination.references, start=1):
        svg = comparison_chart(determination, reference, chart_id=f"comparison-{index}")
        charts.append(
            _Chart(
                f"Solve rate of {determination.target} minus {reference}, with {confidence} "
                "Newcombe intervals.",
                Markup(svg),  # noqa: S704 (the chart escapes its text)
            )
        )
    return charts


def _shown(content: ReportContent, version: ReportVersionOut) -> _Shown:
    document = content.document()
    determination = document.determination
    criteria = determination.verdict.criteria
    return _Shown(
        version=version,
        document=document,
        sha256=content.sha256,
        criteria_met=sum(criterion.outcome == "met" for criterion in criteria),
        confidence=percent(determination.settings.confidence),
        charts=_charts(determination),
    )


def _report_page(ctx: Context, submission_id: str, version: int | None) -> _ReportPage:
    report = service.get_report(ctx, submission_id)
    submission = get_submission(ctx, submission_id)
    versions = {v.version: v for v in report.versions}
    if version is not None and version not in versions:
        raise NotFound(
            f"the report of submission {submission_id} has no version {version}", field="version"
        )
    chosen = version if version is not None else max(versions, default=None)
    shown = (
        _shown(service.report_files(ctx, submission_id, chosen), versions[chosen])
        if chosen is not None
        else None
    )
    latest = report.versions[-1] if report.versions else None
    staff = _is_staff(ctx.actor)
    draft = latest if staff and latest is not None and latest.status == DRAFT else None
    two_person = staff and service.two_person_rule(ctx)
    return _ReportPage(
        report=report,
        submission=submission,
        campaigns=list_campaigns(ctx, submission_id=submission_id).items,
        shown=shown,
        draft=draft,
        amends=any(v.status == ISSUED for v in report.versions),
        two_person_rule=two_person,
        may_approve=draft is not None and not (two_person and draft.author_id == ctx.actor.user_id),
    )


def _render_report(
    request: Request, ctx: Context, page: _ReportPage, status_code: int = 200, **form: Any
) -> Response:
    return render(
        request,
        "reports/detail.html.j2",
        ctx,
        status_code=status_code,
        page=page,
        staff=_is_staff(ctx.actor),
        error=form.get("error"),
        error_field=form.get("error_field"),
        limitations=form.get("limitations", ""),
        amendment_reason=form.get("amendment_reason", ""),
    )


@router.get("/reports/{submission_id}")
async def report_detail(
    request: Request, ctx: PageContext, submission_id: str, version: int | None = None
) -> Response:
    """A submission's report: the determination of its newest visible version (or `version`),
    the report's charts, every visible version with its downloads, and for agency staff the
    draft and approve forms."""
    page = await call(_report_page, ctx, submission_id, version)
    return _render_report(request, ctx, page)


def _form_error(
    request: Request, ctx: Context, submission_id: str, exc: PredeployError, **form: Any
) -> Response:
    if isinstance(exc, NotFound | NotAuthenticated):
        raise exc
    page = _report_page(ctx, submission_id, None)
    return _render_report(
        request, ctx, page, exc.status_code, error=exc.message, error_field=exc.field, **form
    )


@router.post("/reports/{submission_id}/draft")
def draft_report(
    request: Request,
    ctx: PageContext,
    submission_id: str,
    limitations: Annotated[str, Form(max_length=100_000)] = "",
    amendment_reason: Annotated[str, Form(max_length=5000)] = "",
) -> Response:
    """Draft the report from the completed campaigns and findings (agency staff); a new draft
    replaces an unapproved one, and after an issued version is an amendment with a reason."""
    lines = [line.strip() for line in limitations.splitlines() if line.strip()]
    try:
        with ctx.session.begin_nested():
            service.create_draft(
                ctx, submission_id, lines, amendment_reason=amendment_reason.strip() or None
            )
    except PredeployError as exc:
        return _form_error(
            request,
            ctx,
            submission_id,
            exc,
            limitations=limitations,
            amendment_reason=amendment_reason,
        )
    return RedirectResponse(f"/reports/{submission_id}", status_code=303)


@router.post("/reports/{submission_id}/approve")
def approve_report(
    request: Request,
    ctx: PageContext,
    submission_id: str,
    draft_sha256: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Approve the draft the page showed (named by its digest): sign and issue it."""
    try:
        with ctx.session.begin_nested():
            service.approve(ctx, submission_id, draft_sha256)
    except PredeployError as exc:
        return _form_error(request, ctx, submission_id, exc)
    return RedirectResponse(f"/reports/{submission_id}", status_code=303)


def _body(content: ReportContent, fmt: Format) -> bytes:
    if fmt == "json":
        return content.data
    if fmt == "sig":
        if content.signature is None:
            raise NotFound(
                f"version {content.version} is a draft: it has no signature until it is issued",
                field="version",
            )
        return f"{content.signature}\n".encode("ascii")
    if fmt == "html":
        return content.html().encode("utf-8")
    return content.pdf()


@router.get("/reports/{submission_id}/download/{fmt}")
def download_report(
    ctx: PageContext, submission_id: str, fmt: Format, version: int | None = None
) -> Response:
    """One version (default: the newest issued one) as a file: the signed JSON, its detached
    signature, or the HTML or PDF rendering of the JSON (which shows its SHA-256)."""
    content = service.report_files(ctx, submission_id, version)
    media_type, suffix = _FILES[fmt]
    filename = f"report-{content.submission_id}-v{content.version}.{suffix}"
    return Response(
        _body(content, fmt),
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "X-Content-Type-Options": "nosniff",
            "X-Report-SHA256": content.sha256,
        },
    )
