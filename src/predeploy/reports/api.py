"""HTTP routes for reports: draft, approve (sign and issue), versions, downloads, findings, and
the agency's two-person rule.

A report lives under its submission (`/submissions/{id}/report`) and answers under the
submission's visibility: agency staff see every version; the developer org sees only issued
versions of its own; anyone else gets 404.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from ..errors import Conflict
from ..web_deps import CurrentContext, call
from . import service
from .schemas import (
    FindingCreate,
    FindingOut,
    ReportApprove,
    ReportCreate,
    ReportOut,
    ReportSettingsOut,
    ReportSettingsUpdate,
    ReportVersionOut,
)
from .service import ReportContent

router = APIRouter(prefix="/api/v1", tags=["reports"])

FILE_NAME = r"^[1-9][0-9]{0,8}\.(json|html|pdf|sig)$"

_FILES = {
    "json": ("application/json", "json"),
    "html": ("text/html; charset=utf-8", "html"),
    "pdf": ("application/pdf", "pdf"),
    "sig": ("text/plain; charset=us-ascii", "json.sig"),
}


@router.post("/submissions/{submission_id}/report", status_code=status.HTTP_201_CREATED)
def create_draft(
    ctx: CurrentContext, submission_id: str, body: ReportCreate | None = None
) -> ReportVersionOut:
    """Draft the report from the submission's completed campaigns and findings (agency
    evaluators and admins). A new draft replaces an unapproved one; after an issued version it
    is an amendment and needs `amendment_reason`."""
    data = body or ReportCreate()
    return service.create_draft(
        ctx, submission_id, data.limitations, amendment_reason=data.amendment_reason
    )


@router.post("/submissions/{submission_id}/report/approve")
def approve(ctx: CurrentContext, submission_id: str, body: ReportApprove) -> ReportVersionOut:
    """Approve the draft named by its `draft_sha256`: sign and issue it (a second evaluator
    while the two-person rule is on; 409 if the draft changed since it was read). The first
    issue moves the submission to `report_issued` and notifies the developer."""
    return service.approve(ctx, submission_id, body.draft_sha256)


@router.get("/submissions/{submission_id}/report")
async def get_report(ctx: CurrentContext, submission_id: str) -> ReportOut:
    """The report's versions you may see (developers: issued ones) and the agency's public key."""
    return await call(service.get_report, ctx, submission_id)


@router.get(
    "/submissions/{submission_id}/report/{name}",
    response_class=Response,
    responses={
        200: {
            "content": {media: {} for media, _ in _FILES.values()},
            "description": "The report as signed JSON, its detached signature, HTML or PDF.",
        }
    },
)
def download(
    ctx: CurrentContext,
    submission_id: str,
    name: Annotated[
        str,
        Path(
            pattern=FILE_NAME,
            description="VERSION.FORMAT: `1.json` (the exact signed bytes), `1.sig` (base64 "
            "Ed25519 signature), `1.html` or `1.pdf` (rendered from the JSON, showing its "
            "SHA-256).",
        ),
    ],
) -> Response:
    """One version of the report as a file: `{version}.json`, `.sig`, `.html` or `.pdf`."""
    version, fmt = name.split(".")
    content = service.report_files(ctx, submission_id, int(version))
    media_type, suffix = _FILES[fmt]
    body = _body(content, fmt)
    filename = f"report-{content.submission_id}-v{content.version}.{suffix}"
    return Response(
        content=body,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "X-Report-SHA256": content.sha256,
        },
    )


def _body(content: ReportContent, fmt: str) -> bytes:
    if fmt == "json":
        return content.data
    if fmt == "sig":
        if content.signature is None:
            raise Conflict(
                f"version {content.version} is a draft: it is not signed until it is approved",
                field="version",
            )
        return f"{content.signature}\n".encode("ascii")
    if fmt == "html":
        return content.html().encode("utf-8")
    return content.pdf()


@router.post("/submissions/{submission_id}/findings", status_code=status.HTTP_201_CREATED)
def add_finding(ctx: CurrentContext, submission_id: str, body: FindingCreate) -> FindingOut:
    """Record a finding (agency evaluators and admins); it goes into the next draft."""
    return service.add_finding(ctx, submission_id, body)


@router.get("/submissions/{submission_id}/findings")
async def list_findings(ctx: CurrentContext, submission_id: str) -> list[FindingOut]:
    """The submission's findings (agency evaluators and admins)."""
    return await call(service.list_findings, ctx, submission_id)


@router.get("/report-settings")
async def get_settings(ctx: CurrentContext) -> ReportSettingsOut:
    """The agency's report settings: whether the two-person rule is on."""
    return await call(service.get_report_settings, ctx)


@router.put("/report-settings")
def set_settings(ctx: CurrentContext, body: ReportSettingsUpdate) -> ReportSettingsOut:
    """Turn the two-person rule on or off (agency admins, admin scope; audited with the reason)."""
    return service.set_two_person_rule(ctx, body)
