"""Pages: campaigns. The list, one campaign with its live progress (Server-Sent Events that
`static/campaign.js` applies to the page), and cancelling one.

Everything shown comes from the campaign services called as the signed-in user: the developer
org sees its own campaigns' state and progress; scores so far and runner errors (which can quote
tasks and transcripts) only agency staff see, as the services decide.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from sqlalchemy.exc import SQLAlchemyError

from ..accounts.actor import Actor
from ..campaigns import plans, service
from ..campaigns.schemas import (
    CAMPAIGN_OPEN_STATES,
    CampaignOut,
    CampaignState,
    PlanOut,
    SampleResultOut,
)
from ..campaigns.service import INFRASTRUCTURE_ERRORS
from ..campaigns.transcripts import campaign_snapshot
from ..errors import InvalidInput, NotAuthenticated, NotFound, PredeployError
from ..pagination import DEFAULT_LIMIT
from ..runtime import Context, Runtime
from ..submissions.schemas import SubmissionDetail
from ..submissions.service import get_submission
from ..web_deps import call
from ._session import PageContext
from ._templates import duration, render, utc

log = logging.getLogger("predeploy.web.campaigns")

router = APIRouter(include_in_schema=False)

# How often a page's stream reads the campaign again, how long it may stay silent before a
# keep-alive comment, and how long one stream lasts at most: the browser's EventSource then
# reconnects, and the user is authorised afresh by the page's own route.
POLL_SECONDS = 1.0
HEARTBEAT_SECONDS = 15.0
MAX_STREAM_SECONDS = 900.0

_STATE_BADGES = {
    CampaignState.COMPLETED: "ok",
    CampaignState.FAILED: "bad",
    CampaignState.CANCELLED: "warn",
}


def _is_staff(actor: Actor) -> bool:
    return actor.is_system or actor.is_agency_staff


# --- what the page shows of a campaign's progress (also the events' data) --------------------


def _state_label(state: CampaignState) -> str:
    return state.value.capitalize()


def _scores_by_job(results: list[SampleResultOut]) -> dict[str, str]:
    """Each job's mean score over the samples scored so far, as the table shows it.

    Samples that failed for infrastructure reasons say nothing of the model, so they are left
    out, as the determination leaves them out.
    """
    scores: dict[str, list[float]] = {}
    for result in results:
        if result.score is None or result.error_class in INFRASTRUCTURE_ERRORS:
            continue
        scores.setdefault(result.job_id, []).append(result.score)
    return {
        job_id: f"{sum(values) / len(values):.2f} ({len(values)} scored)"
        for job_id, values in scores.items()
    }


def _progress_text(campaign: CampaignOut, percent: int) -> str:
    progress = campaign.progress
    if progress.samples_total:
        counted = f"{progress.samples_done} of {progress.samples_total} samples"
    else:
        counted = f"{progress.jobs_done} of {progress.jobs_total} jobs"
    return f"{percent}% done: {counted}"


def _eta_text(campaign: CampaignOut) -> str:
    if campaign.state not in CAMPAIGN_OPEN_STATES:
        return ""
    if campaign.waiting_for_window is not None:
        return "Waits for the submission's testing window to open."
    seconds = campaign.progress.eta_seconds
    if seconds is None:
        return ""
    return f"About {duration(timedelta(seconds=seconds))} left (estimate)."


def _errors(campaign: CampaignOut) -> list[str]:
    """Errors as the services expose them: sample errors by class, retried model-call
    failures, and each job's last error (blank for the developer org)."""
    progress = campaign.progress
    lines = [
        f"{count} sample{'s' if count != 1 else ''} ended with {kind.replace('_', ' ')}"
        for kind, count in sorted(progress.errors_by_class.items())
    ]
    lines += [
        f"{count} model call{'s' if count != 1 else ''} retried after {kind.replace('_', ' ')}"
        for kind, count in sorted(progress.retried_failures.items())
    ]
    lines += [
        f"{job.task} ({job.model_label}), attempt {job.attempts}: {job.last_error}"
        for job in campaign.jobs
        if job.last_error
    ]
    return lines


def live_view(campaign: CampaignOut, scores: dict[str, str] | None) -> dict[str, Any]:
    """What the page shows of a campaign's progress, as plain texts and numbers: the page is
    rendered from it, and each event carries it for `campaign.js` to apply. `scores` is None
    for a caller who may not see results."""
    finished = campaign.state not in CAMPAIGN_OPEN_STATES
    percent = int(campaign.progress.fraction_done * 100)
    return {
        "state": campaign.state.value,
        "state_label": _state_label(campaign.state),
        "state_badge": _STATE_BADGES.get(campaign.state, ""),
        "reason": campaign.reason,
        "finished": finished,
        "percent": percent,
        "progress_text": _progress_text(campaign, percent),
        "eta_text": _eta_text(campaign),
        "started": utc(campaign.started_at),
        "finished_at": utc(campaign.finished_at),
        "show_scores": scores is not None,
        "jobs": [
            {
                "id": job.id,
                "task": job.task,
                "model": job.model_label,
                "samples": f"{job.samples_done} / "
                + ("?" if job.samples_total is None else str(job.samples_total)),
                "state": job.state.value,
                "score": "—" if scores is None else scores.get(job.id, "—"),
            }
            for job in campaign.jobs
        ],
        "errors": _errors(campaign),
    }


def _scores(ctx: Context, campaign: CampaignOut) -> dict[str, str] | None:
    if not _is_staff(ctx.actor):
        return None
    return _scores_by_job(service.list_results(ctx, campaign.id))


# --- the list -----------------------------------------------------------------------------------


def _state_filter(state: str | None) -> CampaignState | None:
    if not state:
        return None
    try:
        return CampaignState(state)
    except ValueError:
        raise InvalidInput(
            f"state must be one of: {', '.join(s.value for s in CampaignState)}", field="state"
        ) from None


@router.get("/campaigns")
async def campaign_list(
    request: Request, ctx: PageContext, state: str | None = None, cursor: str | None = None
) -> Response:
    """The campaigns the user may see, newest first, optionally of one state."""
    chosen = _state_filter(state)
    page = await call(service.list_campaigns, ctx, state=chosen, cursor=cursor, limit=DEFAULT_LIMIT)
    return render(
        request,
        "campaigns/list.html.j2",
        ctx,
        campaigns=page.items,
        next_cursor=page.next_cursor,
        state=chosen.value if chosen else "",
        states=[s.value for s in CampaignState],
    )


# --- one campaign -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Detail:
    campaign: CampaignOut
    submission: SubmissionDetail
    plan: PlanOut | None
    """The plan's items (agency staff; others see its name and version)."""
    live: dict[str, Any]


def _detail(ctx: Context, campaign_id: str) -> _Detail:
    campaign = service.get_campaign(ctx, campaign_id)
    plan = plans.show_plan(ctx, campaign.plan_id) if _is_staff(ctx.actor) else None
    return _Detail(
        campaign=campaign,
        submission=get_submission(ctx, campaign.submission_id),
        plan=plan,
        live=live_view(campaign, _scores(ctx, campaign)),
    )


def _render_detail(
    request: Request, ctx: Context, detail: _Detail, status_code: int = 200, **form: Any
) -> Response:
    return render(
        request,
        "campaigns/detail.html.j2",
        ctx,
        status_code=status_code,
        campaign=detail.campaign,
        submission=detail.submission,
        plan=detail.plan,
        live=detail.live,
        estimate=duration(timedelta(seconds=detail.campaign.estimated_seconds)),
        may_cancel=_is_staff(ctx.actor) and not detail.live["finished"],
        error=form.get("error"),
        reason=form.get("reason", ""),
    )


@router.get("/campaigns/{campaign_id}")
async def campaign_detail(request: Request, ctx: PageContext, campaign_id: str) -> Response:
    """One campaign: its submission, plan, state, progress per task and errors, kept up to
    date by `campaign.js` from `/campaigns/{id}/events`."""
    detail = await call(_detail, ctx, campaign_id)
    return _render_detail(request, ctx, detail)


@router.post("/campaigns/{campaign_id}/cancel")
def cancel_campaign(
    request: Request,
    ctx: PageContext,
    campaign_id: str,
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Cancel a queued or running campaign (agency staff); running jobs stop at once."""
    try:
        with ctx.session.begin_nested():
            service.cancel_campaign(ctx, campaign_id, reason.strip())
    except (NotFound, NotAuthenticated):
        raise
    except PredeployError as exc:
        detail = _detail(ctx, campaign_id)
        return _render_detail(
            request, ctx, detail, exc.status_code, error=exc.message, reason=reason
        )
    return RedirectResponse(f"/campaigns/{campaign_id}", status_code=303)


# --- live progress ------------------------------------------------------------------------------


def _event(name: str, data: dict[str, Any]) -> bytes:
    # One line of JSON: a newline inside `data:` would end the field.
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def _snapshot(
    runtime: Runtime, actor: Actor, campaign_id: str, seen: str
) -> tuple[str, bool, dict[str, Any] | None]:
    """The campaign now, as a key to compare polls by (its ETA aside, which moves with the
    clock), whether it is finished, and its view when the key differs from `seen`.

    The snapshot checks afresh that the user's session is still valid and the campaign still
    visible (NotAuthenticated, NotFound); scores are read only when something changed, since
    they mean reading every result so far.
    """
    campaign = campaign_snapshot(runtime, actor, campaign_id)
    key = campaign.model_dump_json(exclude={"progress": {"eta", "eta_seconds"}})
    finished = campaign.state not in CAMPAIGN_OPEN_STATES
    if key == seen:
        return key, finished, None
    with runtime.unit(actor, read_only=True) as ctx:
        view = live_view(campaign, _scores(ctx, campaign))
    return key, finished, view


async def _progress_events(
    runtime: Runtime, actor: Actor, campaign_id: str, max_seconds: float
) -> AsyncIterator[bytes]:
    """`progress` (the page's view of the campaign) now and on every change, keep-alives while
    nothing changes, and `end` once the campaign is over; closed silently after `max_seconds`,
    when the user's session ends or the campaign is no longer visible to them, or when the
    database cannot be read (the browser then reconnects through the page's route, which
    answers as the user may now see)."""
    last_sent = time.monotonic()
    deadline = last_sent + max_seconds
    seen, sent = "", ""
    shown: dict[str, Any] = {}
    while True:
        try:
            # Each poll is its own short read transaction, in a worker thread.
            seen, finished, view = await anyio.to_thread.run_sync(
                _snapshot, runtime, actor, campaign_id, seen
            )
        except (NotAuthenticated, NotFound):
            return
        except SQLAlchemyError:
            log.warning(
                "campaign %s: page event stream ended, the database is unavailable", campaign_id
            )
            return
        data = sent if view is None else json.dumps(view, sort_keys=True)
        if view is not None and data != sent:
            sent, shown, last_sent = data, view, time.monotonic()
            yield _event("progress", view)
        elif time.monotonic() - last_sent >= HEARTBEAT_SECONDS:
            last_sent = time.monotonic()
            yield b": keep-alive\n\n"
        if finished:
            yield _event("end", {k: shown[k] for k in ("state", "state_label", "reason")})
            return
        await anyio.sleep(max(min(POLL_SECONDS, deadline - time.monotonic()), 0))
        if time.monotonic() >= deadline:
            return


@router.get("/campaigns/{campaign_id}/events")
async def campaign_events(request: Request, ctx: PageContext, campaign_id: str) -> Response:
    """Server-Sent Events following one campaign for its page: `progress` with the page's view
    of it at once and on every change, and `end` when it is over."""
    # Refused here (404, or the sign-in redirect) before the stream starts.
    await call(service.visible_campaign, ctx, campaign_id)
    return StreamingResponse(
        _progress_events(ctx.runtime, ctx.actor, campaign_id, MAX_STREAM_SECONDS),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
