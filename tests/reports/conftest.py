"""Fixtures for reports: submissions in testing with completed campaigns whose sample results
are stored directly (as a worker's ingest would), and two evaluators for the two-person rule."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from predeploy.accounts import Actor
from predeploy.campaigns.models import Campaign, Job, SampleResult, TestPlan
from predeploy.determination import CATEGORIES
from predeploy.runtime import Runtime
from predeploy.submissions.service import mark_testing
from tests.conftest import START, Caller
from tests.submissions.conftest import World, world  # noqa: F401 (a fixture used below)

CATEGORY = CATEGORIES[0]
TARGET = "production"
REFERENCE = "previous"


def store_completed_campaign(
    runtime: Runtime,
    submission_id: str,
    *,
    solved: int = 8,
    samples: int = 10,
    state: str = "completed",
) -> str:
    """A campaign of a plan with one suite item and one reference model, stored as a worker's
    ingest leaves it, with `samples` results for the target (`solved` of them solved) and as
    many failed ones for the reference: its id."""
    now = START + timedelta(hours=1)
    with runtime.unit(Actor.system("test")) as ctx:
        count = ctx.session.query(TestPlan).count()
        document: dict[str, Any] = {
            "name": f"report-plan-{count}",
            "description": "",
            "estimated_duration": 3600,
            "elicitation": {"agent": None, "system_prompt": None, "attempts": 1},
            "reference_models": [
                {"label": REFERENCE, "model": "openai-api/acme/m0", "base_url": None,
                 "api_key_env": None}
            ],
            "items": [{"task": "predeploy/cyber_suite", "task_args": {"seeds": [7]}}],
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
            seeds={"0": {"seeds": [7], "source": "given"}},
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
        for label in (TARGET, f"reference:{REFERENCE}"):
            job = Job(
                campaign_id=campaign.id,
                item_index=0,
                task="predeploy/cyber_suite",
                model_label=label,
                spec={},
                state="succeeded",
                not_before=now,
                log_dir="/nonexistent",
                retried_failures={"rate_limit": 1},
                reruns=0,
                created_at=now,
            )
            ctx.session.add(job)
            ctx.session.flush()
            for index in range(samples):
                solve = label == TARGET and index < solved
                ctx.session.add(
                    SampleResult(
                        campaign_id=campaign.id,
                        job_id=job.id,
                        item_index=0,
                        task="predeploy/cyber_suite",
                        sample_id=f"{CATEGORY}-{index}",
                        epoch=1,
                        model_label=label,
                        model="scripted",
                        family=CATEGORY,
                        category=CATEGORY,
                        level=1,
                        seed=7,
                        score=1.0 if solve else 0.0,
                        total_tokens=100,
                        error_class="none",
                        attempt=1,
                        ingested_at=now,
                    )
                )
        return campaign.id


@dataclass
class Desk:
    """A world with a second evaluator and helpers that make report-ready submissions."""

    world: World
    second: Caller

    @property
    def evaluator(self) -> Caller:
        return self.world.evaluator

    def testing_submission(self, caller: Caller | None = None) -> str:
        """An accepted submission whose first campaign started (state `testing`): its id."""
        w = self.world
        sub = w.submission(caller)
        owner = caller or w.submitter
        assert w.move(sub["id"], "submitted", owner).status_code == 200
        assert w.move(sub["id"], "accepted", self.evaluator).status_code == 200
        with w.system() as ctx:
            mark_testing(ctx, sub["id"])
        return str(sub["id"])

    def completed_campaign(self, submission_id: str, **fields: Any) -> str:
        """A completed campaign (see `store_completed_campaign`) of the submission: its id."""
        return store_completed_campaign(self.world.api.runtime, submission_id, **fields)

    def ready(self, caller: Caller | None = None) -> tuple[str, str]:
        """A testing submission with one completed campaign: (submission id, campaign id)."""
        sub_id = self.testing_submission(caller)
        return sub_id, self.completed_campaign(sub_id)


@pytest.fixture
def desk(world: World) -> Desk:  # noqa: F811 (the imported fixture)
    agency = world.api.agency_admin.org_id
    return Desk(world=world, second=world.api.user(agency, "evaluator"))
