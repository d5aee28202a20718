"""Campaigns run end to end: a plan of suite tasks through a worker, Inspect and the sandbox."""

from __future__ import annotations

from tests.campaigns.conftest import Lab


def test_a_campaign_runs_a_suite_plan_against_the_scripted_expert(lab: Lab) -> None:
    sub = lab.submission()
    lab.plan()
    campaign = lab.start(sub["id"])
    assert campaign["state"] == "queued"
    assert lab.work() == ["succeeded"]
    done = lab.campaign(campaign["id"])
    assert done["state"] == "completed", done
    results = lab.results(campaign["id"])
    assert len(results) == 1
    assert results[0]["score"] == 1.0
    assert results[0]["family"] == "crypto"
