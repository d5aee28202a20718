"""The periodic jobs run as the system, each in its own transaction, driven by the service clock."""

from __future__ import annotations

from datetime import timedelta

from typer.testing import CliRunner

from predeploy.audit.service import latest_checkpoint, verify
from predeploy.cli import app
from predeploy.clock import FrozenClock
from predeploy.scheduler import Job, Scheduler
from tests.submissions.conftest import RELEASE, World, as_system, iso


def _clock(world: World) -> FrozenClock:
    clock = world.api.runtime.clock
    assert isinstance(clock, FrozenClock)
    return clock


def test_a_tick_destroys_expired_keys_emits_deadlines_and_signs_a_checkpoint(world: World) -> None:
    sub = world.submission(access_expires_at=iso(RELEASE - timedelta(days=5)))
    assert world.move(sub["id"], "submitted", world.submitter).status_code == 200
    assert world.move(sub["id"], "accepted", world.evaluator).status_code == 200
    scheduler = Scheduler(world.api.runtime)

    assert set(scheduler.run_due().values()) == {"ok"}
    assert as_system(world, latest_checkpoint) is not None

    _clock(world).set(RELEASE - timedelta(days=4))
    assert set(scheduler.run_due(force=True).values()) == {"ok"}
    detail = world.get(f"/submissions/{sub['id']}", world.evaluator).json()
    assert all(v["api_key_destroyed_at"] is not None for v in detail["access_variants"])
    kinds = {e["kind"] for e in world.get("/notifications", world.agency_admin).json()["items"]}
    assert {
        "submission.accepted",
        "submission.window_opened",
        "submission.report_due_soon",
    } <= kinds
    assert "submission.overdue" not in kinds

    _clock(world).set(RELEASE - timedelta(days=1))
    scheduler.run_due(force=True)
    kinds = {e["kind"] for e in world.get("/notifications", world.agency_admin).json()["items"]}
    assert "submission.overdue" in kinds
    assert as_system(world, verify).ok


def test_jobs_wait_for_their_interval_unless_forced(world: World) -> None:
    runs: list[str] = []
    scheduler = Scheduler(
        world.api.runtime, jobs=[Job("count", timedelta(minutes=10), lambda ctx: runs.append("x"))]
    )
    scheduler.run_due()
    scheduler.run_due()
    assert runs == ["x"]
    _clock(world).advance(timedelta(minutes=10))
    scheduler.run_due()
    scheduler.run_due(force=True)
    assert runs == ["x", "x", "x"]


def test_a_failing_job_does_not_stop_the_others(world: World) -> None:
    def boom(ctx: object) -> None:
        raise RuntimeError("boom")

    ran: list[str] = []
    scheduler = Scheduler(
        world.api.runtime,
        jobs=[
            Job("broken", timedelta(minutes=1), boom),
            Job("fine", timedelta(minutes=1), lambda ctx: ran.append("fine")),
        ],
    )
    outcomes = scheduler.run_due()
    assert outcomes == {"broken": "failed: RuntimeError", "fine": "ok"}
    assert ran == ["fine"]


def test_tick_command_runs_every_job(world: World, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    settings = world.api.runtime.settings
    monkeypatch.setenv("PREDEPLOY_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("PREDEPLOY_DATABASE_URL", settings.resolved_database_url)
    result = CliRunner().invoke(app, ["tick", "--json"])
    assert result.exit_code == 0, result.output
    assert '"audit-checkpoint": "ok"' in result.stdout
