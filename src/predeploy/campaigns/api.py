"""HTTP routes for campaigns: start, list, show (with progress), cancel, sample results."""

from __future__ import annotations

from fastapi import APIRouter, status

from ..pagination import DEFAULT_LIMIT, Page, PageLimit
from ..web_deps import CurrentContext, call
from . import service
from .schemas import CampaignCreate, CampaignOut, CampaignState, CancelIn, SampleResultOut

router = APIRouter(prefix="/api/v1", tags=["campaigns"])


@router.post("/campaigns", status_code=status.HTTP_201_CREATED)
def start_campaign(ctx: CurrentContext, body: CampaignCreate) -> CampaignOut:
    """Queue a test plan against an accepted submission (agency evaluators and admins).

    It runs inside the submission's testing window: before the window opens it waits; after the
    report deadline or the end of model access it is refused (409, with the reason).
    """
    return service.start_campaign(ctx, body.submission_id, body.plan)


@router.get("/campaigns")
async def list_campaigns(
    ctx: CurrentContext,
    submission: str | None = None,
    state: CampaignState | None = None,
    cursor: str | None = None,
    limit: PageLimit = DEFAULT_LIMIT,
) -> Page[CampaignOut]:
    """Campaigns you may see, newest first (developers: their own submissions' only)."""
    return await call(
        service.list_campaigns,
        ctx,
        submission_id=submission,
        state=state,
        cursor=cursor,
        limit=limit,
    )


@router.get("/campaigns/{campaign_id}")
async def get_campaign(ctx: CurrentContext, campaign_id: str) -> CampaignOut:
    """A campaign with its jobs, sample counts, errors by class, re-runs and ETA."""
    return await call(service.get_campaign, ctx, campaign_id)


@router.post("/campaigns/{campaign_id}/cancel")
def cancel_campaign(ctx: CurrentContext, campaign_id: str, body: CancelIn) -> CampaignOut:
    """Cancel a queued or running campaign; running jobs stop making model calls at once."""
    return service.cancel_campaign(ctx, campaign_id, body.reason)


@router.get("/campaigns/{campaign_id}/results")
async def list_results(
    ctx: CurrentContext, campaign_id: str, model: str | None = None
) -> list[SampleResultOut]:
    """One row per sample and epoch (agency staff only), optionally for one model label."""
    return await call(service.list_results, ctx, campaign_id, model_label=model)
