"""Campaign rules: the window, refusals, seeds, at-risk flags, cancelling, withdrawal, visibility."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from predeploy.accounts import Actor
from predeploy.campaigns.models import Job
from predeploy.campaigns.service import refresh_all_at_risk
from predeploy.clock import FrozenClock
from predeploy.suite._instances import SEED_BITS
from tests.campaigns.conftest import QUICK_ITEM, Lab
from tests.conftest import START
from tests.submissions.conftest import iso


def _clock(lab: Lab) -> FrozenClock:
    clock = lab.world.api.runtime.clock
    assert isinstance(clock, FrozenClock)
    return clock


def _jobs(lab: Lab, campaign_id: str) -> list[Job]:
    with lab.world.api.runtime.transaction(read_only=True) as session:
        return list(
            session.scalars(
                select(Job).where(Job.campaign_id == campaign_id).order_by(Job.model_label)
            ).all()
        )


def _start(lab: Lab, submission_id: str, plan: str = "quick") -> Any:
    return lab.world.post(
        "/campaigns", lab.evaluator, {"submission_id": submission_id, "plan": plan}
    )


def test_suite_seeds_are_drawn_per_campaign_recorded_and_shared_by_every_model(lab: Lab) -> None:
    sub = lab.submission()
    item = {"task": "predeploy/cyber_suite", "task_args": {"families": ["crypto"], "instances": 3}}
    reference = {"label": "previous", "model": "predeploy/scripted-novice"}
    lab.plan(item, {"task": "predeploy/cyber_web", "task_args": {"seeds": [7]}},
             reference_models=[reference])  # fmt: skip
    first = lab.start(sub["id"])
    second = lab.start(sub["id"])
    drawn = first["seeds"]["0"]
    assert drawn["source"] == "cryptographic"
    assert len(drawn["seeds"]) == 3
    assert all(0 <= seed < 2**SEED_BITS for seed in drawn["seeds"])
    assert drawn["seeds"] != second["seeds"]["0"]["seeds"]
    assert first["seeds"]["1"] == {"seeds": [7], "source": "given"}
    jobs = _jobs(lab, first["id"])
    assert sorted((j.item_index, j.model_label) for j in jobs) == [
        (0, "production"), (0, "reference:previous"), (1, "production"), (1, "reference:previous"),
    ]  # fmt: skip
    for job in jobs:
        expected = drawn["seeds"] if job.item_index == 0 else [7]
        assert job.spec["task_args"]["seeds"] == expected
        assert "instances" not in job.spec["task_args"]
    # The developer sees progress, never the seeds (they would give away every flag).
    seen = lab.campaign(first["id"], lab.world.submitter)
    assert seen["seeds"] == {}
    assert len(seen["jobs"]) == 4


def test_given_seeds_must_be_exact_json_numbers(lab: Lab) -> None:
    sub = lab.submission()
    # 2**53 has no exact JSON number: the signed report, which lists the seeds, could not be made.
    lab.plan({"task": "predeploy/cyber_web", "task_args": {"seeds": [7, 2**SEED_BITS]}})

    refused = _start(lab, sub["id"])

    assert refused.status_code == 422, refused.text
    assert f"2**{SEED_BITS} - 1" in refused.json()["error"]["message"]
    assert lab.world.get("/campaigns", lab.evaluator).json()["items"] == []


def test_refused_unless_accepted_and_inside_access_and_deadline(lab: Lab) -> None:
    world = lab.world
    lab.plan()
    draft = world.submission(access_variants=[{"label": "p", "model": "predeploy/scripted-idle"}])
    refused = _start(lab, draft["id"])
    assert refused.status_code == 409
    assert "accepted" in refused.json()["error"]["message"]

    sub = lab.submission(access_expires_at=iso(START + timedelta(days=5)))
    _clock(lab).advance(timedelta(days=6))
    expired = _start(lab, sub["id"])
    assert expired.status_code == 409
    assert "model access expired" in expired.json()["error"]["message"]

    late = lab.submission()  # due at START + 18 days, access until the release at + 20
    _clock(lab).advance(timedelta(days=12, hours=12))
    overdue = _start(lab, late["id"])
    assert overdue.status_code == 409
    assert "report deadline passed" in overdue.json()["error"]["message"]
    assert world.get("/campaigns", lab.evaluator).json()["items"] == []


def test_a_campaign_created_before_the_window_waits_for_it(lab: Lab) -> None:
    release = START + timedelta(days=40)
    sub = lab.submission(planned_release_at=iso(release))
    assert sub["window_start"] > iso(START)
    lab.plan()
    campaign = lab.start(sub["id"])
    assert campaign["state"] == "queued"
    assert campaign["waiting_for_window"] is not None
    assert lab.worker().run_once().outcome == "idle"
    _clock(lab).advance(timedelta(days=10, minutes=1))
    assert lab.work() == ["succeeded"]
    assert lab.campaign(campaign["id"])["state"] == "completed"


def test_the_first_campaign_to_start_moves_the_submission_to_testing(lab: Lab) -> None:
    sub = lab.submission()
    lab.plan()
    lab.start(sub["id"])
    assert lab.world.get(f"/submissions/{sub['id']}", lab.evaluator).json()["state"] == "accepted"
    assert lab.work() == ["succeeded"]
    after = lab.world.get(f"/submissions/{sub['id']}", lab.evaluator).json()
    assert after["state"] == "testing"
    assert after["history"][-1]["to_state"] == "testing"


def test_access_expiring_before_a_job_runs_refuses_it_with_a_message(lab: Lab) -> None:
    sub = lab.submission(access_expires_at=iso(START + timedelta(days=3)))
    lab.plan()
    campaign = lab.start(sub["id"])
    _clock(lab).advance(timedelta(days=4))
    outcome = lab.worker().run_once()
    assert outcome.outcome == "refused"
    assert "model access expired" in outcome.message
    failed = lab.campaign(campaign["id"])
    assert failed["state"] == "failed"
    assert "model access expired" in failed["reason"]
    assert {job["state"] for job in failed["jobs"]} == {"cancelled"}


def test_a_plan_longer_than_the_time_left_flags_the_submission_at_risk(lab: Lab) -> None:
    sub = lab.submission()  # the report is due in 18 days
    lab.plan(estimated_duration="20d", name="long")
    campaign = lab.start(sub["id"], "long")
    assert campaign["at_risk"] is True
    flagged = lab.world.get(f"/submissions/{sub['id']}", lab.evaluator).json()
    assert flagged["at_risk"] is True
    assert "20" in flagged["at_risk_reason"] or "480" in flagged["at_risk_reason"]
    lab.world.post(f"/campaigns/{campaign['id']}/cancel", lab.evaluator, {"reason": "too long"})
    cleared = lab.world.get(f"/submissions/{sub['id']}", lab.evaluator).json()
    assert cleared["at_risk"] is False

    short = lab.submission()
    lab.plan(estimated_duration="10d", name="short")
    lab.start(short["id"], "short")
    assert lab.world.get(f"/submissions/{short['id']}", lab.evaluator).json()["at_risk"] is False
    _clock(lab).advance(timedelta(days=9))  # 9 days left, 10 needed
    with lab.world.api.runtime.unit(Actor.system("test")) as ctx:
        assert refresh_all_at_risk(ctx) == 1
    assert lab.world.get(f"/submissions/{short['id']}", lab.evaluator).json()["at_risk"] is True


def test_cancel_and_withdrawal_end_open_campaigns(lab: Lab) -> None:
    world = lab.world
    sub = lab.submission()
    lab.plan()
    cancelled = lab.start(sub["id"])
    answer = world.post(f"/campaigns/{cancelled['id']}/cancel", lab.evaluator, {"reason": "test"})
    assert answer.status_code == 200
    assert answer.json()["state"] == "cancelled"
    again = world.post(f"/campaigns/{cancelled['id']}/cancel", lab.evaluator, {})
    assert again.status_code == 409
    refused = world.post(f"/campaigns/{cancelled['id']}/cancel", world.submitter, {})
    assert refused.status_code == 403

    open_one = lab.start(sub["id"])
    assert world.move(sub["id"], "withdrawn", world.submitter).status_code == 200
    ended = lab.campaign(open_one["id"])
    assert ended["state"] == "cancelled"
    assert ended["reason"] == "submission withdrawn"
    assert {job["state"] for job in ended["jobs"]} == {"cancelled"}
    assert lab.worker().run_once().outcome == "idle"


def test_who_sees_what(lab: Lab) -> None:
    world = lab.world
    sub = lab.submission()
    lab.plan()
    campaign = lab.start(sub["id"])
    assert lab.work() == ["succeeded"]
    path = f"/campaigns/{campaign['id']}"
    assert world.get(path, world.submitter).status_code == 200
    assert world.get(path, world.dev_viewer).status_code == 200
    assert world.get(f"{path}/results", world.submitter).status_code == 403
    assert len(world.get(f"{path}/results", world.evaluator).json()) == 1
    for outsider in (world.other_submitter, world.vendor):
        assert world.get(path, outsider).status_code == 404
        assert world.get(f"{path}/results", outsider).status_code in (403, 404)
        assert world.get("/campaigns", outsider).json()["items"] == []
    assert world.post("/campaigns", world.submitter, {"submission_id": sub["id"], "plan": "quick"}
                      ).status_code == 403  # fmt: skip


def test_bad_requests_are_explained_and_change_nothing(lab: Lab) -> None:
    world = lab.world
    sub = lab.submission()
    lab.plan()
    unknown_plan = _start(lab, sub["id"], "nope")
    assert unknown_plan.status_code == 404
    assert unknown_plan.json()["error"]["field"] == "plan"
    assert _start(lab, "not-a-submission").status_code == 404
    missing = world.post("/campaigns", lab.evaluator, {"plan": "quick"})
    assert missing.status_code == 422
    lab.plan({**QUICK_ITEM, "variant": "reduced-safeguards"}, name="other-variant")
    wrong_variant = _start(lab, sub["id"], "other-variant")
    assert wrong_variant.status_code == 422
    assert "reduced-safeguards" in wrong_variant.json()["error"]["message"]
    assert world.get("/campaigns", lab.evaluator).json()["items"] == []


def test_a_job_that_keeps_failing_is_retried_then_failed(lab: Lab) -> None:
    runtime = lab.world.api.runtime
    runtime.settings.job_max_attempts = 2
    runtime.settings.job_retry_backoff_seconds = 0
    sub = lab.submission()
    lab.plan({"task": "predeploy/no_such_task"}, name="broken")
    campaign = lab.start(sub["id"], "broken")
    assert lab.work() == ["released", "failed"]
    failed = lab.campaign(campaign["id"])
    assert failed["state"] == "failed"
    (job,) = failed["jobs"]
    assert job["attempts"] == 2
    assert "no_such_task" in job["last_error"]
