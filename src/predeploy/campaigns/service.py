"""Rules for campaigns: starting one inside the submission's window, cancelling, progress, results.

Who may see what: agency staff see every campaign and its results; the developer org sees its own
submissions' campaigns (state and progress) but never results or transcripts, which hold working
exploits against the suite; nobody else sees anything (404, as for the submission itself).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from ..accounts.actor import Actor
from ..accounts.models import Scope
from ..audit.service import record
from ..errors import Conflict, InvalidInput, NotFound, PermissionDenied
from ..identity import IDENTITY_TASK
from ..pagination import DEFAULT_LIMIT, Page, page_of, paginate
from ..runtime import Context
from ..submissions.models import AccessVariant, Submission
from ..submissions.states import ACCESS_STATES, FINAL_STATES, State
from ..submissions.visibility import scoped, visible_submission
from ..suite import SEED_BITS, random_seeds
from . import _artifacts, plans
from ._queue import end_campaign, refusal
from .models import Campaign, Job, SampleResult, TestPlan
from .schemas import (
    CAMPAIGN_OPEN_STATES,
    IDENTITY_END_INDEX,
    IDENTITY_START_INDEX,
    CampaignOut,
    CampaignState,
    ErrorClass,
    JobOut,
    JobState,
    PlanDocument,
    PlanItem,
    Progress,
    SampleResultOut,
    reference_model_label,
)


def _require_staff(actor: Actor, what: str) -> None:
    if not (actor.is_system or actor.is_agency_staff):
        raise PermissionDenied(f"only agency evaluators and admins {what}")


def visible_campaign(ctx: Context, campaign_id: str, *, lock: bool = False) -> Campaign:
    """The campaign if the caller may see its submission; NotFound otherwise."""
    campaign = ctx.session.get(Campaign, campaign_id, with_for_update=lock)
    if campaign is None:
        raise NotFound(f"campaign {campaign_id} not found")
    try:
        visible_submission(ctx, campaign.submission_id)
    except NotFound:
        raise NotFound(f"campaign {campaign_id} not found") from None
    return campaign


# --- starting -------------------------------------------------------------------------------


def _item_seeds(item: PlanItem) -> dict[str, Any]:
    """Seeds for a suite item: drawn now from a cryptographic source unless the plan fixes them."""
    given = item.task_args.get("seeds")
    if given is not None:
        seeds = [given] if isinstance(given, int) else list(given)
        if not all(isinstance(s, int) and 0 <= s < 2**SEED_BITS for s in seeds):
            # Larger integers have no exact JSON number, and the signed report lists the seeds.
            raise InvalidInput(
                f"seeds must be whole numbers from 0 to 2**{SEED_BITS} - 1", field="plan"
            )
        return {"seeds": seeds, "source": "given"}
    instances = item.task_args.get("instances", 1)
    if not isinstance(instances, int) or not 1 <= instances <= 1000:
        raise InvalidInput("instances must be a whole number from 1 to 1000", field="plan")
    return {"seeds": random_seeds(instances), "source": "cryptographic"}


@dataclass(frozen=True)
class _JobSpec:
    """A job to queue: plan item (or identity probe) index, task, model label and spec."""

    item_index: int
    task: str
    label: str
    variant: AccessVariant | None
    spec: dict[str, Any]
    held: bool = False


def _identity_specs(
    plan: PlanDocument, tested: dict[str, AccessVariant], probe_set_id: str
) -> list[_JobSpec]:
    """Each tested variant's identity probes, at the start and (held) at the end."""
    jobs: list[_JobSpec] = []
    for index, held in ((IDENTITY_START_INDEX, False), (IDENTITY_END_INDEX, True)):
        for variant in tested.values():
            spec = {
                "task": IDENTITY_TASK,
                "task_args": {"probe_set_id": probe_set_id},
                "epochs": 1,
                "limits": {},
                "sandbox": None,
                # Probes are asked bare, exactly as `predeploy fingerprint compute` asks them:
                # no agent, no system prompt of the plan's.
                "elicitation": {},
                "model": variant.model,
                "base_url": variant.base_url,
                "api_key_env": None,
                "price": _price(plan, variant.label),
            }
            jobs.append(_JobSpec(index, IDENTITY_TASK, variant.label, variant, spec, held))
    return jobs


def _job_specs(plan: PlanDocument, sub: Submission, seeds: dict[str, Any]) -> list[_JobSpec]:
    """One job per plan item x model, and the identity probes of every variant tested."""
    variants = {v.label: v for v in sub.variants}
    first = sub.default_variant
    if first is None:
        raise Conflict("the submission has no access variant to test", field="submission_id")
    jobs: list[_JobSpec] = []
    tested: dict[str, AccessVariant] = {}
    for index, item in enumerate(plan.items):
        task_args = dict(item.task_args)
        if str(index) in seeds:
            task_args.pop("instances", None)
            task_args["seeds"] = seeds[str(index)]["seeds"]
        common = {
            "task": item.task,
            "task_args": task_args,
            "epochs": item.epochs,
            "limits": item.limits.model_dump(),
            "sandbox": item.sandbox.value if item.sandbox else None,
            "sandbox_config": item.sandbox_config,
            "elicitation": plan.elicitation.model_dump(),
        }
        if item.variant is not None and item.variant not in variants:
            raise InvalidInput(
                f"plan item {index} targets variant {item.variant!r}, which the submission does "
                f"not have (it has: {', '.join(sorted(variants))})",
                field="plan",
            )
        variant = variants[item.variant] if item.variant else first
        tested.setdefault(variant.label, variant)
        target = {
            "model": variant.model,
            "base_url": variant.base_url,
            "api_key_env": None,
            "price": _price(plan, variant.label),
        }
        jobs.append(_JobSpec(index, item.task, variant.label, variant, common | target))
        if item.compare:
            for reference in plan.reference_models:
                spec = common | {
                    "model": reference.model,
                    "base_url": reference.base_url,
                    "api_key_env": reference.api_key_env,
                    "price": _price(plan, reference.label),
                }
                label = reference_model_label(reference.label)
                jobs.append(_JobSpec(index, item.task, label, None, spec))
    if plan.identity_probes is not None:
        jobs.extend(_identity_specs(plan, tested, plan.identity_probes))
    return jobs


def _price(plan: PlanDocument, label: str) -> dict[str, float] | None:
    price = plan.prices.get(label)
    return price.inspect_cost() if price is not None else None


def start_campaign(ctx: Context, submission_id: str, plan_ref: str) -> CampaignOut:
    """Queue a campaign of `plan_ref` against a submission (agency staff, write scope).

    Refused after the report deadline, after model access has expired, and unless the submission
    is accepted (or already testing). Before the window opens the campaign is queued and waits.
    """
    actor = ctx.actor
    _require_staff(actor, "start campaigns")
    actor.require_scope(Scope.WRITE)
    sub = visible_submission(ctx, submission_id, lock=True)
    now = ctx.now()
    if State(sub.state) not in ACCESS_STATES:
        raise Conflict(
            f"the submission is {sub.state}; campaigns start once it is accepted",
            field="submission_id",
        )
    why = refusal(sub, now)
    if why is not None:
        raise Conflict(f"campaign refused: {why}", field="submission_id")
    plan_row = plans.get_plan(ctx, plan_ref)
    document = PlanDocument.model_validate(plan_row.document)
    seeds = {str(i): _item_seeds(item) for i, item in enumerate(document.items) if item.is_suite}
    specs = _job_specs(document, sub, seeds)
    estimate, source = plans.estimate(ctx, plan_row)
    campaign = Campaign(
        submission_id=sub.id,
        plan_id=plan_row.id,
        state=CampaignState.QUEUED.value,
        seeds=seeds,
        estimated_seconds=estimate,
        estimate_source=source,
        at_risk=False,
        log_root="",
        created_by=actor.user_id,
        created_at=now,
        updated_at=now,
    )
    ctx.session.add(campaign)
    ctx.session.flush()
    campaign.log_root = _artifacts.campaign_root(ctx.settings.resolved_artifact_store, campaign.id)
    for job_spec in specs:
        job = Job(
            campaign_id=campaign.id,
            item_index=job_spec.item_index,
            task=job_spec.task,
            model_label=job_spec.label,
            variant_id=job_spec.variant.id if job_spec.variant else None,
            spec=job_spec.spec,
            state=(JobState.HELD if job_spec.held else JobState.QUEUED).value,
            not_before=max(now, sub.window_start),
            log_dir="",
            retried_failures={},
            created_at=now,
        )
        ctx.session.add(job)
        ctx.session.flush()
        job.log_dir = _artifacts.job_dir(campaign.log_root, job.id)
    record(
        ctx,
        "campaign.created",
        "campaign",
        campaign.id,
        {"submission_id": sub.id, "plan_id": plan_row.id, "seeds": seeds},
        org_id=sub.org_id,
        detail={
            "submission_id": sub.id,
            "plan": f"{plan_row.name}@{plan_row.version}",
            "jobs": len(specs),
        },
    )
    ctx.session.flush()
    refresh_at_risk(ctx, sub)
    return campaign_out(ctx, campaign)


# --- at risk --------------------------------------------------------------------------------


def _remaining_seconds(ctx: Context, campaign: Campaign) -> float:
    progress = _progress(ctx, campaign, ctx.now())
    return campaign.estimated_seconds * (1.0 - progress.fraction_done)


def refresh_at_risk(ctx: Context, sub: Submission) -> bool:
    """Flag the submission (and its open campaigns) when the estimated time still needed by its
    open campaigns exceeds the time left before the report is due."""
    now = ctx.now()
    open_campaigns = ctx.session.scalars(
        select(Campaign).where(
            Campaign.submission_id == sub.id,
            Campaign.state.in_([s.value for s in CAMPAIGN_OPEN_STATES]),
        )
    ).all()
    # Campaigns run one after the other in the queue's order, so their needs add up.
    start = max(now, sub.window_start)
    available = (sub.report_due_at - start).total_seconds()
    needed = 0.0
    for campaign in open_campaigns:
        needed += _remaining_seconds(ctx, campaign)
        campaign.at_risk = needed > available
    at_risk = needed > available
    reason = (
        f"open campaigns are estimated to need {needed / 3600:.1f} h; "
        f"{max(available, 0) / 3600:.1f} h are left before the report is due"
        if at_risk
        else ""
    )
    if sub.at_risk != at_risk or sub.at_risk_reason != reason:
        sub.at_risk = at_risk
        sub.at_risk_reason = reason
        if at_risk:
            record(
                ctx,
                "submission.at_risk",
                "submission",
                sub.id,
                {"reason": reason},
                org_id=sub.org_id,
                detail={"reason": reason},
            )
    return at_risk


def refresh_all_at_risk(ctx: Context) -> int:
    """Re-check every submission with open campaigns (the scheduler runs it); returns how many
    are at risk."""
    if not ctx.actor.is_system:
        raise PermissionDenied("only the system refreshes at-risk flags")
    subs = ctx.session.scalars(
        select(Submission).where(
            (Submission.at_risk.is_(True))
            | Submission.id.in_(
                select(Campaign.submission_id).where(
                    Campaign.state.in_([s.value for s in CAMPAIGN_OPEN_STATES])
                )
            )
        )
    ).all()
    return sum(refresh_at_risk(ctx, sub) for sub in subs)


# --- cancelling -----------------------------------------------------------------------------


def cancel_campaign(ctx: Context, campaign_id: str, reason: str = "") -> CampaignOut:
    """Cancel a queued or running campaign (agency staff); running jobs stop at once."""
    campaign = visible_campaign(ctx, campaign_id, lock=True)
    _require_staff(ctx.actor, "cancel campaigns")
    ctx.actor.require_scope(Scope.WRITE)
    if CampaignState(campaign.state) not in CAMPAIGN_OPEN_STATES:
        raise Conflict(f"the campaign is already {campaign.state}", field="campaign_id")
    end_campaign(ctx, campaign, CampaignState.CANCELLED, reason or "cancelled by the agency")
    refresh_at_risk(ctx, ctx.session.get_one(Submission, campaign.submission_id))
    return campaign_out(ctx, campaign)


def cancel_for_submission(ctx: Context, sub: Submission, target: State) -> int:
    """Cancel every open campaign of a submission that ended (withdrawn, declined, closed).

    Called inside the transition's transaction: once it commits, runners' gates refuse every new
    model call, and workers stop the jobs at their next heartbeat.
    """
    if target not in FINAL_STATES:
        return 0
    campaigns = ctx.session.scalars(
        select(Campaign)
        .where(
            Campaign.submission_id == sub.id,
            Campaign.state.in_([s.value for s in CAMPAIGN_OPEN_STATES]),
        )
        .with_for_update()
    ).all()
    for campaign in campaigns:
        end_campaign(ctx, campaign, CampaignState.CANCELLED, f"submission {target.value}")
    sub.at_risk = False
    sub.at_risk_reason = ""
    return len(campaigns)


# --- reading --------------------------------------------------------------------------------


def _job_counts(ctx: Context, campaign_id: str) -> dict[str, dict[str, int]]:
    rows = ctx.session.execute(
        select(SampleResult.job_id, SampleResult.error_class, func.count())
        .where(SampleResult.campaign_id == campaign_id)
        .group_by(SampleResult.job_id, SampleResult.error_class)
    ).all()
    counts: dict[str, dict[str, int]] = {}
    for job_id, error_class, count in rows:
        counts.setdefault(job_id, {})[error_class] = count
    return counts


def _jobs(ctx: Context, campaign_id: str) -> list[Job]:
    return list(
        ctx.session.scalars(
            select(Job)
            .where(Job.campaign_id == campaign_id)
            .order_by(Job.item_index, Job.model_label)
        ).all()
    )


# Errors that say nothing about the model's ability: its sample is excluded from scoring.
INFRASTRUCTURE_ERRORS = frozenset(
    {ErrorClass.MODEL_ERROR, ErrorClass.SANDBOX_ERROR, ErrorClass.SCORER_ERROR}
)


def _job_out(job: Job, counts: dict[str, int]) -> JobOut:
    errored = sum(n for cls, n in counts.items() if ErrorClass(cls) in INFRASTRUCTURE_ERRORS)
    return JobOut(
        id=job.id,
        item_index=job.item_index,
        task=job.task,
        model_label=job.model_label,
        state=JobState(job.state),
        attempts=job.attempts,
        samples_total=job.samples_total,
        samples_done=sum(counts.values()),
        samples_errored=errored,
        samples_running=job.samples_running if job.state == JobState.RUNNING.value else 0,
        reruns=job.reruns,
        retried_failures={k: int(v) for k, v in job.retried_failures.items()},
        last_error=job.last_error,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )


def _progress(
    ctx: Context, campaign: Campaign, now: datetime, jobs: list[JobOut] | None = None
) -> Progress:
    if jobs is None:
        counts = _job_counts(ctx, campaign.id)
        jobs = [_job_out(job, counts.get(job.id, {})) for job in _jobs(ctx, campaign.id)]
    errors: dict[str, int] = {}
    for cls, n in ctx.session.execute(
        select(SampleResult.error_class, func.count())
        .where(SampleResult.campaign_id == campaign.id)
        .group_by(SampleResult.error_class)
    ).all():
        if cls != ErrorClass.NONE.value:
            errors[cls] = n
    retried: dict[str, int] = {}
    for job in jobs:
        for kind, n in job.retried_failures.items():
            retried[kind] = retried.get(kind, 0) + n
    done_states = {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED}
    jobs_done = sum(job.state in done_states for job in jobs)
    known = all(job.samples_total is not None for job in jobs)
    samples_total = sum(job.samples_total or 0 for job in jobs) if known and jobs else None
    samples_done = sum(job.samples_done for job in jobs)
    if CampaignState(campaign.state) not in CAMPAIGN_OPEN_STATES:
        fraction = 1.0
    elif samples_total:
        fraction = min(samples_done / samples_total, 1.0)
    else:
        # Until every job has said how many samples it has, count jobs.
        fraction = jobs_done / len(jobs) if jobs else 0.0
    eta_seconds: float | None = None
    if CampaignState(campaign.state) in CAMPAIGN_OPEN_STATES:
        if campaign.started_at is not None and fraction > 0:
            elapsed = (now - campaign.started_at).total_seconds()
            eta_seconds = max(elapsed / fraction - elapsed, 0.0)
        else:
            eta_seconds = campaign.estimated_seconds * (1.0 - fraction)
    return Progress(
        jobs_total=len(jobs),
        jobs_done=jobs_done,
        samples_total=samples_total,
        samples_done=samples_done,
        samples_errored=sum(job.samples_errored for job in jobs),
        samples_running=sum(job.samples_running for job in jobs),
        errors_by_class=errors,
        reruns=sum(job.reruns for job in jobs),
        retried_failures=retried,
        fraction_done=fraction,
        eta_seconds=eta_seconds,
        eta=now + timedelta(seconds=eta_seconds) if eta_seconds is not None else None,
    )


def campaign_out(ctx: Context, campaign: Campaign) -> CampaignOut:
    now = ctx.now()
    plan_row = ctx.session.get_one(TestPlan, campaign.plan_id)
    counts = _job_counts(ctx, campaign.id)
    jobs = [_job_out(job, counts.get(job.id, {})) for job in _jobs(ctx, campaign.id)]
    staff = ctx.actor.is_system or ctx.actor.is_agency_staff
    if not staff:
        # Runner errors can quote tasks, paths and transcripts: for the agency's eyes only.
        jobs = [job.model_copy(update={"last_error": ""}) for job in jobs]
    sub = ctx.session.get_one(Submission, campaign.submission_id)
    waiting = (
        sub.window_start
        if campaign.state == CampaignState.QUEUED.value and now < sub.window_start
        else None
    )
    return CampaignOut(
        id=campaign.id,
        submission_id=campaign.submission_id,
        plan_id=campaign.plan_id,
        plan_name=plan_row.name,
        plan_version=plan_row.version,
        state=CampaignState(campaign.state),
        reason=campaign.reason,
        at_risk=campaign.at_risk,
        estimated_seconds=campaign.estimated_seconds,
        estimate_source=campaign.estimate_source,
        seeds=campaign.seeds if staff else {},
        created_at=campaign.created_at,
        started_at=campaign.started_at,
        finished_at=campaign.finished_at,
        waiting_for_window=waiting,
        progress=_progress(ctx, campaign, now, jobs),
        jobs=jobs,
    )


def get_campaign(ctx: Context, campaign_id: str) -> CampaignOut:
    """A campaign with its jobs, counts and ETA (agency staff, or the submission's own org)."""
    return campaign_out(ctx, visible_campaign(ctx, campaign_id))


def list_campaigns(
    ctx: Context,
    *,
    submission_id: str | None = None,
    state: CampaignState | None = None,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> Page[CampaignOut]:
    """Campaigns the caller may see, newest first."""
    query = scoped(
        ctx.actor,
        select(Campaign).join(Submission, Submission.id == Campaign.submission_id),
        Submission.org_id,
    )
    if submission_id is not None:
        query = query.where(Campaign.submission_id == submission_id)
    if state is not None:
        query = query.where(Campaign.state == state.value)
    query = paginate(query, Campaign.created_at, Campaign.id, cursor, limit)
    rows = list(ctx.session.scalars(query).all())
    return page_of(rows, limit, lambda campaign: campaign_out(ctx, campaign))


def list_results(
    ctx: Context, campaign_id: str, *, model_label: str | None = None
) -> list[SampleResultOut]:
    """Every ingested sample result of a campaign (agency staff only: answers hold exploits)."""
    campaign = visible_campaign(ctx, campaign_id)
    _require_staff(ctx.actor, "read sample results")
    query = select(SampleResult).where(SampleResult.campaign_id == campaign.id)
    if model_label is not None:
        query = query.where(SampleResult.model_label == model_label)
    rows = ctx.session.scalars(
        query.order_by(
            SampleResult.item_index,
            SampleResult.model_label,
            SampleResult.sample_id,
            SampleResult.epoch,
        )
    ).all()
    return [
        SampleResultOut(
            job_id=r.job_id,
            item_index=r.item_index,
            task=r.task,
            sample_id=r.sample_id,
            epoch=r.epoch,
            model_label=r.model_label,
            model=r.model,
            family=r.family,
            category=r.category,
            level=r.level,
            seed=r.seed,
            score=r.score,
            answer=r.answer,
            input_tokens=r.input_tokens,
            output_tokens=r.output_tokens,
            total_tokens=r.total_tokens,
            total_cost=r.total_cost,
            total_time=r.total_time,
            working_time=r.working_time,
            error_class=ErrorClass(r.error_class),
            error_message=r.error_message,
        )
        for r in rows
    ]
