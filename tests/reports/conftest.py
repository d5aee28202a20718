"""Fixtures for reports: submissions in testing with completed campaigns whose sample results
are stored directly (as a worker's ingest would), and two evaluators for the two-person rule."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from predeploy.determination import CATEGORIES
from predeploy.runtime import Runtime
from predeploy.submissions.service import mark_testing
from predeploy.testing import StoredResult
from predeploy.testing import store_completed_campaign as store_stored_campaign
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
    results = {
        label: [
            StoredResult(
                sample_id=f"{CATEGORY}-{index}",
                category=CATEGORY,
                level=1,
                score=1.0 if label == TARGET and index < solved else 0.0,
            )
            for index in range(samples)
        ]
        for label in (TARGET, f"reference:{REFERENCE}")
    }
    return store_stored_campaign(
        runtime,
        submission_id,
        results,
        now=START + timedelta(hours=1),
        references=[REFERENCE],
        state=state,
        retried_failures={"rate_limit": 1},
    )


@dataclass
class Desk:
    """A world with a second evaluator and helpers that make report-ready submissions."""

    world: World
    second: Caller

    @property
    def evaluator(self) -> Caller:
        return self.world.evaluator

    def testing_submission(self, caller: Caller | None = None, **fields: Any) -> str:
        """An accepted submission (its body's `fields` as given) whose first campaign started
        (state `testing`): its id."""
        w = self.world
        sub = w.submission(caller, **fields)
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
