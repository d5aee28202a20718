"""HTTP routes for reading the audit log."""

from __future__ import annotations

from fastapi import APIRouter

from ..pagination import DEFAULT_LIMIT, Page, PageLimit
from ..web_deps import CurrentContext, call
from . import service
from .schemas import AuditEventOut

router = APIRouter(prefix="/api/v1", tags=["audit"])


@router.get("/audit")
async def list_audit(
    ctx: CurrentContext,
    object_type: str | None = None,
    object_id: str | None = None,
    action: str | None = None,
    cursor: str | None = None,
    limit: PageLimit = DEFAULT_LIMIT,
) -> Page[AuditEventOut]:
    """Audit events, newest first: every event for agency admins, an org's own for its admins."""
    return await call(
        service.list_events,
        ctx,
        object_type=object_type,
        object_id=object_id,
        action=action,
        cursor=cursor,
        limit=limit,
    )
