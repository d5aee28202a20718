"""HTTP routes of the clearinghouse: vulnerability reports, triage, duplicates, sharing.

Every read answers under the sharing rules (`_visibility`): a report the caller may not see is a
404, exactly like one that does not exist.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Header, Query, Response, status

from ..pagination import DEFAULT_LIMIT, Page, PageLimit
from ..web_deps import CurrentContext, RawBody, call, download
from . import advisories, attachments, service
from ._ssvc import TriageTableInfo, coordinator_triage_table
from .models import Tlp, VulnKind, VulnStatus
from .schemas import (
    ID_PATTERN,
    AttachmentOut,
    ClientsIn,
    ExplanationOut,
    FindingToVuln,
    SimilarOut,
    TriageIn,
    VulnCreate,
    VulnOut,
)
from .service import MAX_SIMILAR

router = APIRouter(prefix="/api/v1/clearinghouse", tags=["clearinghouse"])

ATTACHMENTS_PATH = r"^/api/v1/clearinghouse/vulns/[^/]+/attachments$"
"""Uploads to this path may be as large as `max_attachment_bytes` (see `predeploy.api`)."""

_Reason = Annotated[str, Body(embed=True, min_length=3, max_length=5000)]


@router.post("/vulns", status_code=status.HTTP_201_CREATED)
def file_vuln(ctx: CurrentContext, body: VulnCreate) -> VulnOut:
    """File a vulnerability report. An exact duplicate of an earlier one (same fingerprint) is
    linked to it and closed as `duplicate` at once."""
    return service.file_vuln(ctx, body)


@router.post("/vulns/from-finding", status_code=status.HTTP_201_CREATED)
def file_from_finding(ctx: CurrentContext, body: FindingToVuln) -> VulnOut:
    """Send an evaluator's finding as an `ai_model` report about the submitted model (agency
    evaluators and admins); the finding and the report link to each other."""
    return service.file_from_finding(ctx, body)


@router.get("/vulns")
async def list_vulns(
    ctx: CurrentContext,
    status: VulnStatus | None = None,
    kind: VulnKind | None = None,
    tlp: Tlp | None = None,
    q: Annotated[str | None, Query(description="Words that must all occur (stemmed).")] = None,
    cursor: str | None = None,
    limit: PageLimit = DEFAULT_LIMIT,
) -> Page[VulnOut]:
    """Reports you may see, newest first, optionally searched by words."""
    return await call(
        service.list_vulns,
        ctx,
        status=status,
        kind=kind,
        tlp=tlp,
        q=q,
        cursor=cursor,
        limit=limit,
    )


@router.get("/triage")
async def triage_queue(ctx: CurrentContext, limit: PageLimit = 100) -> list[VulnOut]:
    """Open reports, most urgent first (agency analysts and admins)."""
    return await call(service.triage_queue, ctx, limit=limit)


@router.get("/ssvc/coordinator-triage")
def ssvc_coordinator_triage(ctx: CurrentContext) -> TriageTableInfo:
    """The SSVC Coordinator Triage table that triage decisions use: its decision points, their
    allowed values (send the keys, e.g. `{"RP": "N", ...}`), and its outcomes."""
    # A plain `def`, so a thread pays the package's first import (seconds), not the event loop.
    return coordinator_triage_table()


@router.get("/vulns/{vuln_id}")
async def get_vuln(ctx: CurrentContext, vuln_id: str) -> VulnOut:
    return await call(service.get_vuln, ctx, vuln_id)


@router.post("/vulns/{vuln_id}/triage")
def triage(ctx: CurrentContext, vuln_id: str, body: TriageIn) -> VulnOut:
    """Set priority, assignee, the SSVC Coordinator Triage decision, or move the status
    (triaged, declined or duplicate, with a close reason) (agency analysts and admins)."""
    return service.triage(ctx, vuln_id, body)


@router.post("/vulns/{vuln_id}/merge")
def merge(
    ctx: CurrentContext,
    vuln_id: str,
    into: Annotated[str, Body(embed=True, pattern=ID_PATTERN)],
    reason: _Reason,
) -> VulnOut:
    """Close the report as a duplicate of `into`; its own duplicates follow (analysts)."""
    return service.merge(ctx, vuln_id, into, reason)


@router.post("/vulns/{vuln_id}/split")
def split(ctx: CurrentContext, vuln_id: str, reason: _Reason) -> VulnOut:
    """Undo a duplicate link: the report is triaged again on its own (analysts)."""
    return service.split(ctx, vuln_id, reason)


@router.get("/vulns/{vuln_id}/similar")
async def similar(
    ctx: CurrentContext, vuln_id: str, limit: Annotated[int, Query(ge=1, le=MAX_SIMILAR)] = 10
) -> list[SimilarOut]:
    """Likely near-duplicates by text similarity, best first (analysts)."""
    return await call(service.similar_vulns, ctx, vuln_id, limit=limit)


@router.get("/visibility/explain")
async def explain(
    ctx: CurrentContext,
    object: Annotated[
        str,
        Query(
            pattern=r"^(vuln|advisory):[A-Za-z0-9-]{1,36}$",
            examples=["vuln:ID", "advisory:PDXA-2026-0001"],
        ),
    ],
    org: Annotated[str, Query(min_length=1, max_length=36)],
    user: Annotated[str | None, Query(max_length=36)] = None,
) -> ExplanationOut:
    """Why an org (or one of its users) can or cannot see an object (agency analysts, admins)."""
    kind, object_id = object.split(":", 1)
    explain = advisories.explain if kind == "advisory" else service.explain
    return await call(explain, ctx, object_id, org, user)


@router.get("/clients")
async def list_clients(ctx: CurrentContext) -> list[str]:
    """Your org's declared clients (TLP:AMBER may be passed on to them)."""
    return await call(service.list_clients, ctx)


@router.put("/clients")
def set_clients(ctx: CurrentContext, body: ClientsIn) -> list[str]:
    """Replace your org's declared clients (its admins)."""
    return service.set_clients(ctx, body.client_org_ids)


@router.post(
    "/vulns/{vuln_id}/attachments",
    status_code=status.HTTP_201_CREATED,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {t: {} for t in sorted(attachments.VULN_MEDIA_TYPES)},
        }
    },
)
def add_attachment(
    ctx: CurrentContext,
    vuln_id: str,
    content: RawBody,
    filename: Annotated[str, Query(max_length=255)],
    proof_of_concept: bool = False,
    content_type: Annotated[str, Header()] = "",
) -> AttachmentOut:
    """Attach a file: the raw bytes are the body and `Content-Type` its media type. A proof of
    concept is encrypted at rest and released only to the reporter, the agency's analysts and the case's vendors."""
    return attachments.add_attachment(
        ctx,
        vuln_id,
        filename=filename,
        media_type=content_type,
        content=content,
        proof_of_concept=proof_of_concept,
    )


@router.get(
    "/vulns/{vuln_id}/attachments/{attachment_id}/content",
    response_class=Response,
    responses={200: {"content": {t: {} for t in sorted(attachments.VULN_MEDIA_TYPES)}}},
)
def get_attachment_content(ctx: CurrentContext, vuln_id: str, attachment_id: str) -> Response:
    """Download an attachment (its SHA-256 is in the report and in `X-Content-SHA256`)."""
    meta, content = attachments.get_attachment(ctx, vuln_id, attachment_id)
    return download(content, meta.media_type, meta.filename, meta.sha256)
