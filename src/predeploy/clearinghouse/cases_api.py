"""HTTP routes of coordinated-disclosure cases, under `/api/v1/clearinghouse/cases`.

A case the caller may not see is a 404, exactly like one that does not exist; `{case_id}` is the
case's id or its `PDX-...` number.
"""

from __future__ import annotations

from fastapi import APIRouter, status

from ..pagination import DEFAULT_LIMIT, Page, PageLimit
from ..web_deps import CurrentContext, call
from . import cases
from .models import CaseState
from .schemas import (
    ApproveIn,
    CaseCreate,
    CaseOut,
    CaseStateIn,
    CaseVulnerabilityIn,
    EmbargoIn,
    EmbargoOverrideIn,
    PostIn,
    PostOut,
    VendorInviteIn,
    VendorStatusIn,
)

router = APIRouter(prefix="/api/v1/clearinghouse", tags=["clearinghouse cases"])


@router.post("/cases", status_code=status.HTTP_201_CREATED)
def open_case(ctx: CurrentContext, body: CaseCreate) -> CaseOut:
    """Open a case from vulnerability reports (agency analysts and admins); each moves to
    `case_opened`. The embargo defaults to 45 days from now at 12:00 UTC."""
    return cases.open_case(ctx, body)


@router.get("/cases")
async def list_cases(
    ctx: CurrentContext,
    state: CaseState | None = None,
    cursor: str | None = None,
    limit: PageLimit = DEFAULT_LIMIT,
) -> Page[CaseOut]:
    """Cases you may see, newest first."""
    return await call(cases.list_cases, ctx, state=state, cursor=cursor, limit=limit)


@router.get("/cases/{case_id}")
async def get_case(ctx: CurrentContext, case_id: str) -> CaseOut:
    """One case, by id or `PDX-...` number."""
    return await call(cases.get_case, ctx, case_id)


@router.post("/cases/{case_id}/state")
def move_case(ctx: CurrentContext, case_id: str, body: CaseStateIn) -> CaseOut:
    """Move the case to coordinating, disclosed, or closed with a reason (analysts)."""
    return cases.move_case(ctx, case_id, body)


@router.patch("/cases/{case_id}/embargo")
def set_embargo(ctx: CurrentContext, case_id: str, body: EmbargoIn) -> CaseOut:
    """Move the embargo end, never into the past (analysts)."""
    return cases.set_embargo(ctx, case_id, body.embargo_end)


@router.post("/cases/{case_id}/embargo/override")
def request_embargo_override(ctx: CurrentContext, case_id: str, body: EmbargoOverrideIn) -> CaseOut:
    """Ask to end the embargo now, saying why (analysts); a second analyst approves it under
    the two-person rule, else it ends at once."""
    return cases.request_embargo_override(ctx, case_id, body.reason)


@router.post("/cases/{case_id}/embargo/override/approve")
def approve_embargo_override(ctx: CurrentContext, case_id: str) -> CaseOut:
    """End the embargo now, as another analyst asked (analysts)."""
    return cases.approve_embargo_override(ctx, case_id)


@router.post("/cases/{case_id}/vulnerabilities", status_code=status.HTTP_201_CREATED)
def add_vulnerability(ctx: CurrentContext, case_id: str, body: CaseVulnerabilityIn) -> CaseOut:
    """Add a vulnerability with its CVE, CWE, CVSS 3.x/4.0 vectors and SSVC decision (analysts)."""
    return cases.add_vulnerability(ctx, case_id, body)


@router.post("/cases/{case_id}/vendors", status_code=status.HTTP_201_CREATED)
def invite_vendor(ctx: CurrentContext, case_id: str, body: VendorInviteIn) -> CaseOut:
    """Invite a vendor org with a response deadline (default 14 days) (analysts)."""
    return cases.invite_vendor(ctx, case_id, body)


@router.post("/cases/{case_id}/vendors/{org_id}/status")
def set_vendor_status(
    ctx: CurrentContext, case_id: str, org_id: str, body: VendorStatusIn
) -> CaseOut:
    """Set your org's status and statement for one of the case's vulnerabilities (the vendor's
    admins and members); published once an analyst approves it."""
    return cases.set_vendor_status(ctx, case_id, org_id, body)


@router.post("/cases/{case_id}/vendors/{org_id}/approve")
def approve_statement(ctx: CurrentContext, case_id: str, org_id: str, body: ApproveIn) -> CaseOut:
    """Approve a vendor's status and statement for publication (analysts)."""
    return cases.approve_statement(ctx, case_id, org_id, body.vulnerability_id)


@router.get("/cases/{case_id}/posts")
async def list_posts(ctx: CurrentContext, case_id: str) -> list[PostOut]:
    """The case's discussion, oldest first: each post's latest text and revision count."""
    return await call(cases.list_posts, ctx, case_id)


@router.post("/cases/{case_id}/posts", status_code=status.HTTP_201_CREATED)
def add_post(ctx: CurrentContext, case_id: str, body: PostIn) -> PostOut:
    """Post to the case's discussion (its participants and the agency's analysts)."""
    return cases.add_post(ctx, case_id, body.body)


@router.patch("/cases/{case_id}/posts/{post_id}")
def edit_post(ctx: CurrentContext, case_id: str, post_id: str, body: PostIn) -> PostOut:
    """Edit your own post; every earlier revision is kept."""
    return cases.edit_post(ctx, case_id, post_id, body.body)
