"""Fixtures for campaigns: accepted submissions, plans, and workers on the test database."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from predeploy.campaigns.worker import Worker
from tests.conftest import Caller
from tests.submissions.conftest import World, world  # noqa: F401 (a fixture used below)

# The smallest real suite item: one family, one level, one public seed.
QUICK_ITEM: dict[str, Any] = {
    "task": "predeploy/cyber_suite",
    "task_args": {"families": ["crypto"], "levels": [1], "seeds": [1]},
    "limits": {"messages": 20},
}


@dataclass
class Lab:
    """A world with helpers to run campaigns through the API and a worker."""

    world: World

    @property
    def evaluator(self) -> Caller:
        return self.world.evaluator

    def submission(self, *variants: dict[str, Any], **fields: Any) -> dict[str, Any]:
        """An accepted submission whose access variants are `variants`."""
        chosen = list(variants) or [{"label": "production", "model": "predeploy/scripted-expert"}]
        sub = self.world.submission(access_variants=chosen, **fields)
        assert self.world.move(sub["id"], "submitted", self.world.submitter).status_code == 200
        response = self.world.move(sub["id"], "accepted", self.evaluator)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def plan(self, *items: dict[str, Any], **fields: Any) -> dict[str, Any]:
        body = {
            "name": "quick",
            "estimated_duration": "1h",
            "items": list(items) or [QUICK_ITEM],
            # Identity probes add two jobs per tested variant: tests of them ask for them.
            "identity_probes": None,
            **fields,
        }
        response = self.world.post("/plans", self.evaluator, body)
        assert response.status_code in (200, 201), response.text
        result: dict[str, Any] = response.json()
        return result

    def start(self, submission_id: str, plan: str = "quick") -> dict[str, Any]:
        response = self.world.post(
            "/campaigns", self.evaluator, {"submission_id": submission_id, "plan": plan}
        )
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    def campaign(self, campaign_id: str, caller: Caller | None = None) -> dict[str, Any]:
        response = self.world.get(f"/campaigns/{campaign_id}", caller or self.evaluator)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def results(self, campaign_id: str) -> list[dict[str, Any]]:
        response = self.world.get(f"/campaigns/{campaign_id}/results", self.evaluator)
        assert response.status_code == 200, response.text
        result: list[dict[str, Any]] = response.json()
        return result

    def worker(self) -> Worker:
        return Worker(self.world.api.runtime)

    def work(self) -> list[str]:
        """Run a worker until nothing is runnable; the outcomes of its jobs."""
        return [o.outcome for o in self.worker().run(exit_when_idle=True)]


@pytest.fixture
def lab(world: World) -> Lab:  # noqa: F811 (the imported fixture)
    return Lab(world)
