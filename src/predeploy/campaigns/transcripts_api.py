"""HTTP routes for a campaign's eval logs and transcripts (agency staff), and its progress stream.

Logs are served only here, behind a token, under the visibility rules of the results: agency staff
read them; the developer org gets 403; anyone else 404; after the retention period 410 Gone.
The event stream follows the campaign itself, so the developer org may watch its own campaigns.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Annotated
from urllib.parse import quote

import anyio
from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from sqlalchemy.exc import SQLAlchemyError

from ..accounts.actor import Actor
from ..errors import NotAuthenticated, NotFound
from ..runtime import Runtime
from ..web_deps import CurrentContext, call
from . import service, transcripts
from .schemas import CAMPAIGN_OPEN_STATES, CampaignOut
from .transcripts import LogFileOut, TranscriptOut

log = logging.getLogger("predeploy.campaigns.events")

router = APIRouter(prefix="/api/v1", tags=["campaigns"])

# How often a stream reads the campaign again, how long it may stay silent before a keep-alive
# comment (proxies close idle connections), and how long one stream lasts at most (the browser's
# EventSource then reconnects, and the caller is authorised afresh).
POLL_SECONDS = 1.0
HEARTBEAT_SECONDS = 15.0
MAX_STREAM_SECONDS = 3600.0


@router.get("/campaigns/{campaign_id}/logs")
def list_logs(ctx: CurrentContext, campaign_id: str) -> list[LogFileOut]:
    """Every file of the campaign's Inspect logs, by job, with size and SHA-256 (agency
    evaluators and admins). `predeploy logs export` downloads them for `inspect view`."""
    return transcripts.list_logs(ctx, campaign_id)


@router.get(
    "/campaigns/{campaign_id}/logs/{job_id}/{name}",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "The file."}},
)
def download_log(
    ctx: CurrentContext, campaign_id: str, job_id: str, name: str
) -> StreamingResponse:
    """One log file's bytes (agency evaluators and admins); `name` as listed by `.../logs`."""
    log_file = transcripts.open_log_file(ctx, campaign_id, job_id, name)
    return StreamingResponse(
        log_file.chunks(),
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(log_file.name, safe='')}",
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get("/campaigns/{campaign_id}/samples")
def get_transcript(
    ctx: CurrentContext,
    campaign_id: str,
    job: Annotated[str, Query(description="The job's id (see the campaign's `jobs`).")],
    sample: Annotated[str, Query(description="The sample's id, as in the results.")],
    epoch: Annotated[int, Query(ge=1)] = 1,
) -> TranscriptOut:
    """One sample's transcript: its messages, events and scores as Inspect logged them (agency
    evaluators and admins)."""
    return transcripts.sample_transcript(ctx, campaign_id, job, sample, epoch)


def _event(name: str, data: str) -> bytes:
    return f"event: {name}\ndata: {data}\n\n".encode()


async def _progress_events(
    runtime: Runtime, actor: Actor, first: CampaignOut, max_seconds: float
) -> AsyncIterator[bytes]:
    """`progress` now and on every change, keep-alives while nothing changes, `end` once the
    campaign is over; silently closed after `max_seconds`, or when the caller may no longer see
    it (token revoked) or the database cannot be read (the client reconnects)."""
    last_sent = time.monotonic()
    deadline = last_sent + max_seconds
    current = first
    sent = current.model_dump_json()
    yield _event("progress", sent)
    while current.state in CAMPAIGN_OPEN_STATES:
        await anyio.sleep(max(min(POLL_SECONDS, deadline - time.monotonic()), 0))
        if time.monotonic() >= deadline:
            return
        try:
            # Each poll is its own short read transaction, in a worker thread.
            current = await anyio.to_thread.run_sync(
                transcripts.campaign_snapshot, runtime, actor, first.id
            )
        except (NotAuthenticated, NotFound):
            return
        except SQLAlchemyError:
            log.warning("campaign %s: event stream ended, the database is unavailable", first.id)
            return
        data = current.model_dump_json()
        if data != sent:
            sent, last_sent = data, time.monotonic()
            yield _event("progress", data)
        elif time.monotonic() - last_sent >= HEARTBEAT_SECONDS:
            last_sent = time.monotonic()
            yield b": keep-alive\n\n"
    yield _event("end", json.dumps({"state": current.state.value, "reason": current.reason}))


@router.get(
    "/campaigns/{campaign_id}/events",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "`event: progress` (the campaign, as `GET /campaigns/{id}` gives it) "
            "at once and on every change, `: keep-alive` comments, and `event: end` when the "
            "campaign is over.",
        }
    },
)
async def campaign_events(
    ctx: CurrentContext,
    campaign_id: str,
    max_seconds: Annotated[
        float | None,
        Query(
            gt=0,
            description=f"Close the stream after this long (at most {MAX_STREAM_SECONDS:.0f}).",
        ),
    ] = None,
) -> StreamingResponse:
    """Server-Sent Events following a campaign's progress (whoever may see the campaign)."""
    first = await call(service.get_campaign, ctx, campaign_id)
    limit = min(max_seconds or MAX_STREAM_SECONDS, MAX_STREAM_SECONDS)
    return StreamingResponse(
        _progress_events(ctx.runtime, ctx.actor, first, limit),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
