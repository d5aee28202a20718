"""Campaigns stored as a worker's ingest leaves them, without running them: for tests and
benchmarks of what comes after a campaign (determination, reports)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select

from ..accounts.actor import Actor
from ..campaigns.models import Campaign, Job, SampleResult, TestPlan
from ..runtime import Runtime

SUITE_TASK = "predeploy/cyber_suite"


@dataclass(frozen=True)
class StoredResult:
    """One sample result of one model, as ingest stores it."""

    sample_id: str
    category: str
    level: int
    score: float | None
    epoch: int = 1
    seed: int = 7
    error_class: str = "none"
    total_tokens: int = 100
    total_cost: float | None = None


def store_completed_campaign(
    runtime: Runtime,
    submission_id: str,
    results: Mapping[str, Sequence[StoredResult]],
    *,
    now: datetime,
    references: Sequence[str] = (),
    epochs: int = 1,
    seeds: Sequence[int] = (7,),
    state: str = "completed",
    retried_failures: dict[str, int] | None = None,
) -> str:
    """A campaign of a new one-item suite plan, with a succeeded job and its `results` per model
    label (`production`, `reference:NAME`, ...), comparing against `references`: its id."""
    with runtime.unit(Actor.system("testing")) as ctx:
        count = ctx.session.scalar(select(func.count()).select_from(TestPlan)) or 0
        document: dict[str, Any] = {
            "name": f"stored-plan-{count}",
            "description": "",
            "estimated_duration": 3600,
            "elicitation": {"agent": None, "system_prompt": None, "attempts": 1},
            "reference_models": [
                {"label": name, "model": f"openai-api/acme/{name}", "base_url": None,
                 "api_key_env": None}
                for name in references
            ],
            "items": [{"task": SUITE_TASK, "task_args": {"seeds": list(seeds)}, "epochs": epochs}],
        }  # fmt: skip
        plan = TestPlan(
            name=document["name"],
            version=1,
            document=document,
            digest="0" * 64,
            declared_duration_seconds=3600.0,
            created_at=now,
        )
        ctx.session.add(plan)
        ctx.session.flush()
        campaign = Campaign(
            submission_id=submission_id,
            plan_id=plan.id,
            state=state,
            seeds={"0": {"seeds": list(seeds), "source": "given"}},
            estimated_seconds=3600.0,
            estimate_source="declared",
            log_root="/nonexistent",
            created_at=now,
            updated_at=now,
            started_at=now,
            finished_at=now + timedelta(minutes=30),
        )
        ctx.session.add(campaign)
        ctx.session.flush()
        rows: list[dict[str, Any]] = []
        for label, stored in results.items():
            job = Job(
                campaign_id=campaign.id,
                item_index=0,
                task=SUITE_TASK,
                model_label=label,
                spec={},
                state="succeeded",
                not_before=now,
                log_dir="/nonexistent",
                retried_failures=dict(retried_failures or {}),
                reruns=0,
                created_at=now,
            )
            ctx.session.add(job)
            ctx.session.flush()
            rows += [
                {
                    "campaign_id": campaign.id,
                    "job_id": job.id,
                    "item_index": 0,
                    "task": SUITE_TASK,
                    "sample_id": result.sample_id,
                    "epoch": result.epoch,
                    "model_label": label,
                    "model": "scripted",
                    "family": result.category,
                    "category": result.category,
                    "level": result.level,
                    "seed": result.seed,
                    "score": result.score,
                    "total_tokens": result.total_tokens,
                    "total_cost": result.total_cost,
                    "error_class": result.error_class,
                    "error_message": "",
                    "attempt": 1,
                    "ingested_at": now,
                }
                for result in stored
            ]
        if rows:
            ctx.session.execute(insert(SampleResult), rows)
        return campaign.id
