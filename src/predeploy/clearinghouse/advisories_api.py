"""HTTP routes of advisories and the clearinghouse's settings, under `/api/v1/clearinghouse`.

Published CLEAR advisories are public: their read routes answer without a token (and with one,
show whatever else the caller may see). An advisory the caller may not see is a 404.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from ..pagination import DEFAULT_LIMIT, Page, PageLimit
from ..web_deps import CurrentContext, PublicContext, call
from . import advisories, settings
from .schemas import (
    AdvisoryDraftIn,
    AdvisoryOut,
    AdvisoryRevisionOut,
    ClearinghouseSettingsOut,
    ClearinghouseSettingsUpdate,
    PublishIn,
)

router = APIRouter(prefix="/api/v1/clearinghouse", tags=["clearinghouse advisories"])


@router.post("/advisories", status_code=status.HTTP_201_CREATED)
def draft_advisory(ctx: CurrentContext, body: AdvisoryDraftIn) -> AdvisoryOut:
    """Draft the advisory of a coordinating case, or a new revision of it (analysts). Publish
    it with the draft's `sha256`; under the two-person rule another analyst must."""
    return advisories.draft_advisory(ctx, body)


@router.get("/advisories")
async def list_advisories(
    ctx: PublicContext, cursor: str | None = None, limit: PageLimit = DEFAULT_LIMIT
) -> Page[AdvisoryOut]:
    """Advisories you may see, newest first; without a token, the public (CLEAR) ones."""
    return await call(advisories.list_advisories, ctx, cursor=cursor, limit=limit)


@router.get("/advisories/{advisory_id}")
async def get_advisory(ctx: PublicContext, advisory_id: str) -> AdvisoryOut:
    """One advisory, by id or `PDXA-...` number: its published revision."""
    return await call(advisories.get_advisory, ctx, advisory_id)


@router.get("/advisories/{advisory_id}/revisions/{number}")
async def get_revision(
    ctx: PublicContext, advisory_id: str, number: Annotated[int, Path(ge=1)]
) -> AdvisoryRevisionOut:
    """One published revision of an advisory."""
    return await call(advisories.get_revision, ctx, advisory_id, number)


@router.post("/advisories/{advisory_id}/publish")
def publish_advisory(ctx: CurrentContext, advisory_id: str, body: PublishIn) -> AdvisoryOut:
    """Publish the draft whose SHA-256 you read (analysts; a second one under the two-person
    rule), once the case's embargo has ended."""
    return advisories.publish_advisory(ctx, advisory_id, body.sha256)


@router.get("/settings")
async def get_settings(ctx: CurrentContext) -> ClearinghouseSettingsOut:
    """The clearinghouse's settings (the agency's analysts and admins)."""
    return await call(settings.get_settings, ctx)


@router.patch("/settings")
def set_settings(
    ctx: CurrentContext, body: ClearinghouseSettingsUpdate
) -> ClearinghouseSettingsOut:
    """Turn the two-person rule on or off, with a reason (agency admins; audited)."""
    return settings.set_settings(ctx, body)
