"""The job queue: claims under a lease, heartbeats, and the end of a job.

On PostgreSQL any number of workers claim with `SELECT ... FOR UPDATE SKIP LOCKED`; on SQLite every
write transaction holds the database's write lock (BEGIN IMMEDIATE), and one worker runs at a time.
A job whose lease expires (its worker died) is claimed again; each claim is a new *attempt*.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import and_, func, or_, select

from ..audit.service import record
from ..runtime import Context
from ..submissions.models import Submission
from ..submissions.service import mark_testing
from ..submissions.states import ACCESS_STATES, State
from .models import Campaign, Job, SampleStart
from .schemas import JOB_OPEN_STATES, CampaignState, JobState


@dataclass(frozen=True)
class Claim:
    """A job a worker now holds, with what it needs to run it (never the key)."""

    job_id: str
    campaign_id: str
    submission_id: str
    attempt: int
    task: str
    item_index: int
    model_label: str
    variant_id: str | None
    spec: dict[str, Any]
    log_dir: str


@dataclass
class JobProgress:
    """What a running job reports at each heartbeat."""

    samples_total: int | None = None
    samples_running: int = 0
    retried_failures: dict[str, int] = field(default_factory=dict)


class AccessFacts(Protocol):
    """What `refusal` reads of a submission."""

    @property
    def state(self) -> str: ...
    @property
    def access_expires_at(self) -> datetime: ...
    @property
    def report_due_at(self) -> datetime: ...


def refusal(sub: AccessFacts, now: datetime) -> str | None:
    """Why no job of this submission may run now (None: it may, once its window is open)."""
    if State(sub.state) not in ACCESS_STATES:
        return f"the submission is {sub.state}: model access is not available"
    if now >= sub.access_expires_at:
        return f"model access expired at {sub.access_expires_at.isoformat()}"
    if now >= sub.report_due_at:
        return f"the report deadline passed at {sub.report_due_at.isoformat()}"
    return None


def claim_next(ctx: Context, owner: str, lease: timedelta) -> Claim | str | None:
    """Claim the next runnable job for `owner`.

    Returns the claim; or a message when the job found was refused (its campaign fails with it);
    or None when nothing is runnable.
    """
    now = ctx.now()
    query = (
        select(Job)
        .join(Campaign, Campaign.id == Job.campaign_id)
        .join(Submission, Submission.id == Campaign.submission_id)
        .where(
            Campaign.state.in_([CampaignState.QUEUED.value, CampaignState.RUNNING.value]),
            Submission.window_start <= now,
            or_(
                and_(Job.state == JobState.QUEUED.value, Job.not_before <= now),
                and_(Job.state == JobState.RUNNING.value, Job.lease_expires_at < now),
            ),
        )
        .order_by(Campaign.created_at, Job.item_index, Job.model_label, Job.id)
        .limit(1)
    )
    if ctx.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=Job)
    job = ctx.session.scalars(query).first()
    if job is None:
        return None
    campaign = ctx.session.get_one(Campaign, job.campaign_id, with_for_update=True)
    sub = ctx.session.get_one(Submission, campaign.submission_id)
    why = refusal(sub, now)
    if why is not None:
        end_campaign(ctx, campaign, CampaignState.FAILED, f"refused: {why}")
        return why
    job.state = JobState.RUNNING.value
    job.attempts += 1
    job.lease_owner = owner
    job.claimed_by = owner
    job.lease_expires_at = now + lease
    job.heartbeat_at = now
    job.started_at = job.started_at or now
    if campaign.state == CampaignState.QUEUED.value:
        campaign.state = CampaignState.RUNNING.value
        campaign.started_at = now
        campaign.updated_at = now
        record(
            ctx,
            "campaign.started",
            "campaign",
            campaign.id,
            {"submission_id": sub.id},
            org_id=sub.org_id,
            detail={"submission_id": sub.id},
        )
        if sub.state == State.ACCEPTED.value:
            mark_testing(ctx, sub.id, reason=f"campaign {campaign.id} started")
    ctx.session.flush()
    return Claim(
        job_id=job.id,
        campaign_id=campaign.id,
        submission_id=sub.id,
        attempt=job.attempts,
        task=job.task,
        item_index=job.item_index,
        model_label=job.model_label,
        variant_id=job.variant_id,
        spec=dict(job.spec),
        log_dir=job.log_dir,
    )


def _held(
    ctx: Context, claim: Claim, *, lock_campaign: bool = False
) -> tuple[Job, Campaign, Submission]:
    # Locks in the order claims take them (job, then campaign), so they can never deadlock.
    fresh = {"populate_existing": True}
    job = ctx.session.get_one(Job, claim.job_id, with_for_update=True, execution_options=fresh)
    campaign = ctx.session.get_one(
        Campaign, claim.campaign_id, with_for_update=lock_campaign, execution_options=fresh
    )
    sub = ctx.session.get_one(Submission, claim.submission_id)
    return job, campaign, sub


def still_holds(job: Job, claim: Claim) -> bool:
    return (
        job.state == JobState.RUNNING.value
        and job.attempts == claim.attempt
        and job.lease_owner is not None
    )


def heartbeat(
    ctx: Context, claim: Claim, owner: str, lease: timedelta, progress: JobProgress
) -> str | None:
    """Extend the lease and store progress; returns why the job must stop, or None to go on."""
    now = ctx.now()
    job, campaign, sub = _held(ctx, claim)
    if not still_holds(job, claim) or job.lease_owner != owner:
        return "the job was taken over or ended"
    if campaign.state != CampaignState.RUNNING.value:
        return f"the campaign is {campaign.state}"
    why = refusal(sub, now)
    if why is not None:
        return why
    job.lease_expires_at = now + lease
    job.heartbeat_at = now
    job.samples_running = progress.samples_running
    if progress.samples_total is not None:
        job.samples_total = progress.samples_total
    job.retried_failures = dict(progress.retried_failures)
    job.reruns = count_reruns(ctx, job.id)
    return None


def count_reruns(ctx: Context, job_id: str) -> int:
    """Samples run again by a later attempt because the earlier one never flushed them."""
    per_sample = (
        select(func.count().label("starts"))
        .where(SampleStart.job_id == job_id)
        .group_by(SampleStart.sample_id, SampleStart.epoch)
        .subquery()
    )
    total = ctx.session.scalar(select(func.coalesce(func.sum(per_sample.c.starts - 1), 0)))
    return int(total or 0)


def finish(
    ctx: Context,
    claim: Claim,
    owner: str,
    state: JobState,
    *,
    error: str = "",
    progress: JobProgress | None = None,
    retry_after: timedelta | None = None,
) -> JobState | None:
    """End this attempt: the job succeeds, fails, is cancelled, or (with `retry_after`) is put
    back in the queue. Returns the job's new state, or None if the worker no longer held it."""
    now = ctx.now()
    # The campaign is locked too: of two workers ending its last two jobs at once, the second
    # waits, then sees the first's job ended, and settles the campaign.
    job, campaign, _ = _held(ctx, claim, lock_campaign=True)
    if not still_holds(job, claim) or job.lease_owner != owner:
        return None
    if progress is not None:
        if progress.samples_total is not None:
            job.samples_total = progress.samples_total
        job.retried_failures = dict(progress.retried_failures)
    job.samples_running = 0
    job.reruns = count_reruns(ctx, job.id)
    job.last_error = error[:4000]
    job.lease_owner = None
    job.lease_expires_at = None
    if retry_after is not None and state is JobState.FAILED:
        job.state = JobState.QUEUED.value
        job.not_before = now + retry_after
        return JobState.QUEUED
    job.state = state.value
    job.finished_at = now
    ctx.session.flush()
    settle_campaign(ctx, campaign)
    return state


def settle_campaign(ctx: Context, campaign: Campaign) -> None:
    """Complete (or fail) a running campaign once none of its jobs is open any more."""
    if campaign.state != CampaignState.RUNNING.value:
        return
    states = set(ctx.session.scalars(select(Job.state).where(Job.campaign_id == campaign.id)).all())
    if states & {JobState.QUEUED.value, JobState.RUNNING.value}:
        return
    if JobState.HELD.value in states:
        release_held_jobs(ctx, campaign)
        return
    if JobState.FAILED.value in states:
        end_campaign(ctx, campaign, CampaignState.FAILED, "one or more jobs failed")
    else:
        end_campaign(ctx, campaign, CampaignState.COMPLETED, "")


def release_held_jobs(ctx: Context, campaign: Campaign) -> None:
    """Queue the campaign's held jobs (its closing identity probes): every other job has ended."""
    now = ctx.now()
    for job in ctx.session.scalars(
        select(Job).where(Job.campaign_id == campaign.id, Job.state == JobState.HELD.value)
    ):
        job.state = JobState.QUEUED.value
        job.not_before = max(job.not_before, now)
    ctx.session.flush()


def end_campaign(ctx: Context, campaign: Campaign, state: CampaignState, reason: str) -> None:
    """Move a campaign to a final state; its open jobs are cancelled (workers see it at their
    next heartbeat, and their runners' gates close at once)."""
    now = ctx.now()
    campaign.state = state.value
    campaign.reason = reason
    campaign.finished_at = now
    campaign.updated_at = now
    for job in ctx.session.scalars(
        select(Job).where(
            Job.campaign_id == campaign.id,
            Job.state.in_([state.value for state in JOB_OPEN_STATES]),
        )
    ):
        job.state = JobState.CANCELLED.value
        job.finished_at = now
        job.lease_owner = None
        job.lease_expires_at = None
        job.last_error = job.last_error or reason
    sub = ctx.session.get_one(Submission, campaign.submission_id)
    record(
        ctx,
        f"campaign.{state.value}",
        "campaign",
        campaign.id,
        {"reason": reason},
        org_id=sub.org_id,
        detail={"submission_id": sub.id, "reason": reason},
    )
    ctx.session.flush()
