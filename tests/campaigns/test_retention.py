"""Retention: a set period after the report (or the end of participation) transcripts and proofs
of concept are deleted, the deletion is audited, and scores and counts stay."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from predeploy.accounts import Actor
from predeploy.campaigns import _artifacts
from predeploy.campaigns.models import Campaign, SampleResult
from predeploy.campaigns.transcripts import purge_expired_transcripts
from predeploy.clock import FrozenClock
from predeploy.errors import PermissionDenied
from predeploy.submissions.service import mark_report_issued, mark_testing
from tests.campaigns.conftest import Lab
from tests.campaigns.test_transcripts import (
    SAMPLE,
    campaign_row,
    download,
    fake_logs,
    logs,
    mount_transcripts,
    queued_campaign,
    transcript,
)

LOGS = {"run.eval": b"transcript and exploit " * 10, "logs.json": b"{}"}
LOG_BYTES = sum(len(content) for content in LOGS.values())


@pytest.fixture
def lab(lab: Lab) -> Lab:
    mount_transcripts(lab.world.api.http.app)  # type: ignore[arg-type]
    return lab


def finished_campaign(lab: Lab) -> dict[str, Any]:
    """A campaign with logs and one scored result holding its proof of concept, now over."""
    runtime = lab.world.api.runtime
    campaign = queued_campaign(lab)
    (job,) = fake_logs(runtime, campaign["id"], {0: LOGS})
    with runtime.unit(Actor.system("test")) as ctx:
        ctx.session.add(
            SampleResult(
                campaign_id=campaign["id"],
                job_id=job.id,
                item_index=0,
                task=job.task,
                sample_id=SAMPLE,
                epoch=1,
                model_label=job.model_label,
                model="predeploy/scripted-expert",
                score=1.0,
                score_value="C",
                answer="python3 exploit.py --flag",
                score_metadata={
                    "label": "complied",
                    "rationale": "fired on: python3 exploit.py --flag",
                },
                error_class="none",
                attempt=1,
                ingested_at=ctx.now(),
            )
        )
    response = lab.world.post(f"/campaigns/{campaign['id']}/cancel", lab.evaluator, {})
    assert response.status_code == 200, response.text
    return campaign


def issue_report(lab: Lab, submission_id: str) -> None:
    with lab.world.system() as ctx:
        mark_testing(ctx, submission_id)
        mark_report_issued(ctx, submission_id)


def purge(lab: Lab) -> int:
    with lab.world.system() as ctx:
        return purge_expired_transcripts(ctx)


def stored(lab: Lab, campaign_id: str) -> tuple[bool, Any, list[tuple[float | None, str | None]]]:
    """Whether the campaign's logs exist, when they were deleted, and its (score, answer)s."""
    runtime = lab.world.api.runtime
    campaign, _ = campaign_row(runtime, campaign_id)
    with runtime.unit(Actor.system("test")) as ctx:
        results = ctx.session.execute(
            select(SampleResult.score, SampleResult.answer).where(
                SampleResult.campaign_id == campaign_id
            )
        )
        rows = [(score, answer) for score, answer in results]
    return Path(campaign.log_root).exists(), campaign.transcripts_deleted_at, rows


def deletions(lab: Lab, campaign_id: str | None = None) -> list[dict[str, Any]]:
    params = {"action": "campaign.transcripts_deleted"}
    if campaign_id:
        params["object_id"] = campaign_id
    response = lab.world.get("/audit", lab.world.agency_admin, **params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_transcripts_are_deleted_the_set_period_after_the_report(
    lab: Lab, clock: FrozenClock
) -> None:
    lab.world.api.runtime.settings.transcript_retention_days = 0.5
    world = lab.world
    campaign = finished_campaign(lab)
    cid = campaign["id"]
    issue_report(lab, campaign["submission_id"])
    clock.advance(timedelta(hours=12))
    assert purge(lab) == 0  # not more than the period yet
    assert stored(lab, cid) == (True, None, [(1.0, "python3 exploit.py --flag")])
    assert len(logs(lab, cid).json()) == 2

    clock.advance(timedelta(seconds=1))
    assert purge(lab) == 1
    assert stored(lab, cid) == (False, clock.now(), [(1.0, None)])
    # The judge's rationale, which quotes the answer, goes with it; the label stays.
    with lab.world.system() as ctx:
        (meta,) = ctx.session.scalars(
            select(SampleResult.score_metadata).where(SampleResult.campaign_id == cid)
        ).all()
    assert meta == {"label": "complied"}
    (event,) = deletions(lab)
    assert event["object"] == {"type": "campaign", "id": cid}
    assert event["actor"]["label"] == "test"
    assert event["detail"] == {
        "submission_id": campaign["submission_id"],
        "files": 2,
        "bytes": LOG_BYTES,
        "answers_cleared": 1,
        "retention_days": 0.5,
    }
    job_id = campaign["jobs"][0]["id"]
    for response in (
        logs(lab, cid),
        download(lab, cid, job_id, "run.eval"),
        transcript(lab, cid, job=job_id, sample=SAMPLE),
    ):
        assert response.status_code == 410
        assert "deleted" in response.json()["error"]["message"]
        assert "retention policy" in response.json()["error"]["message"]
    # The rules come first: the developer is refused as before, outsiders see nothing.
    assert logs(lab, cid, world.submitter).status_code == 403
    assert logs(lab, cid, world.other_submitter).status_code == 404
    # Scores and counts stay.
    (result,) = lab.results(cid)
    assert (result["score"], result["answer"]) == (1.0, None)
    assert lab.campaign(cid)["progress"]["samples_done"] == 1

    clock.advance(timedelta(days=30))
    assert purge(lab) == 0
    assert len(deletions(lab)) == 1


def test_retention_starts_when_the_developer_withdraws(lab: Lab, clock: FrozenClock) -> None:
    world = lab.world
    withdrawn = finished_campaign(lab)
    clock.advance(timedelta(days=10))
    reported = finished_campaign(lab)
    ongoing = queued_campaign(lab)
    fake_logs(world.api.runtime, ongoing["id"], {0: LOGS})
    # Withdrawing stops the work; what was gathered is kept for the retention period.
    response = world.move(withdrawn["submission_id"], "withdrawn", world.submitter, "changed plans")
    assert response.status_code == 200, response.text
    clock.advance(timedelta(days=10))
    issue_report(lab, reported["submission_id"])

    clock.advance(timedelta(days=365) - timedelta(days=10))
    assert purge(lab) == 0
    clock.advance(timedelta(seconds=1))
    assert purge(lab) == 1
    assert stored(lab, withdrawn["id"])[:2] == (False, clock.now())
    assert stored(lab, reported["id"]) == (True, None, [(1.0, "python3 exploit.py --flag")])

    clock.advance(timedelta(days=10))
    assert purge(lab) == 1
    assert stored(lab, reported["id"])[0] is False
    # A submission still being tested keeps its logs however long it takes.
    clock.advance(timedelta(days=3650))
    assert purge(lab) == 0
    assert stored(lab, ongoing["id"])[:2] == (True, None)


def test_only_the_system_deletes_transcripts(lab: Lab) -> None:
    actor = lab.world.actor(lab.world.agency_admin)
    with lab.world.api.runtime.unit(actor) as ctx, pytest.raises(PermissionDenied):
        purge_expired_transcripts(ctx)


def test_a_store_that_fails_to_delete_holds_up_no_other_campaign(
    lab: Lab, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = lab.world.api.runtime
    runtime.settings.transcript_retention_days = 1
    stuck, fine = finished_campaign(lab), finished_campaign(lab)
    for campaign in (stuck, fine):
        issue_report(lab, campaign["submission_id"])
    stuck_root = campaign_row(runtime, stuck["id"])[0].log_root
    delete_tree = _artifacts.delete_tree

    def failing(location: str) -> bool:
        if location == stuck_root:
            raise PermissionError(13, "Permission denied", location)
        return delete_tree(location)

    monkeypatch.setattr(_artifacts, "delete_tree", failing)
    clock.advance(timedelta(days=2))
    assert purge(lab) == 1
    assert stored(lab, fine["id"])[:2] == (False, clock.now())
    # Left as it was (no mark, answers kept, nothing audited), to be tried again.
    assert stored(lab, stuck["id"]) == (True, None, [(1.0, "python3 exploit.py --flag")])
    assert [e["object"]["id"] for e in deletions(lab)] == [fine["id"]]
    monkeypatch.setattr(_artifacts, "delete_tree", delete_tree)
    assert purge(lab) == 1
    assert stored(lab, stuck["id"])[:2] == (False, clock.now())
    with runtime.unit(Actor.system("test")) as ctx:
        assert ctx.session.get_one(Campaign, stuck["id"]).transcripts_deleted_at == clock.now()
