"""Workers that die, and many workers at once: no sample result is lost or stored twice."""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from predeploy.clock import SystemClock
from tests.campaigns import workers
from tests.campaigns.conftest import Lab

TASKS = Path(__file__).parent / "tasks.py"


@pytest.fixture
def clock() -> SystemClock:
    """Worker processes read the real clock, so the test's windows are set by it too."""
    return SystemClock()


@pytest.mark.slow
def test_a_worker_killed_mid_job_leaves_nothing_lost_or_stored_twice(
    lab: Lab, tmp_path: Path
) -> None:
    runtime = lab.world.api.runtime
    sub = lab.submission()
    item = {
        "task": "predeploy/cyber_suite",
        "task_args": {
            "families": ["crypto", "forensics", "recon"],
            "levels": [1, 2],
            "seeds": [3, 4],
        },
        "limits": {"messages": 20},
    }
    lab.plan(item)
    campaign = lab.start(sub["id"])
    env = workers.worker_env(runtime, model_max_connections=2)
    log = tmp_path / "workers.log"

    first = workers.start_worker(env, log, "--exit-when-idle")
    try:
        workers.wait_for(
            lambda: len(workers.results(runtime, campaign["id"])) >= 3,
            timeout=120,
            what="the first worker to ingest some results",
        )
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    before = {
        (r.sample_id, r.epoch): (r.score, r.attempt)
        for r in workers.results(runtime, campaign["id"])
    }
    # The killed worker's runner dies with it (PR_SET_PDEATHSIG): nothing goes on in the background.
    workers.wait_for(lambda: not workers.runner_pids(runtime), timeout=10, what="the runner to die")
    # Until the dead worker's lease runs out, no other worker may take its job (and one started
    # with --exit-when-idle would find nothing runnable and exit).
    workers.wait_for(
        lambda: all(
            job.lease_expires_at is not None and job.lease_expires_at <= runtime.clock.now()
            for job in workers.jobs(runtime, campaign["id"])
        ),
        timeout=30,
        what="the killed worker's lease to run out",
    )

    second = workers.start_worker(env, log, "--exit-when-idle")
    assert second.wait(timeout=300) == 0, log.read_text()

    done = lab.campaign(campaign["id"])
    assert done["state"] == "completed", done
    (job,) = workers.jobs(runtime, campaign["id"])
    assert job.attempts == 2
    rows = workers.results(runtime, campaign["id"])
    keys = Counter((r.sample_id, r.epoch) for r in rows)
    assert len(keys) == job.samples_total == 12
    assert max(keys.values()) == 1
    after = {(r.sample_id, r.epoch): (r.score, r.attempt) for r in rows}
    assert all(after[key] == value for key, value in before.items())
    assert all(score == 1.0 for score, _ in after.values())
    # A re-run is a sample started by the first attempt, never flushed, and started again.
    started: dict[tuple[str, int], set[int]] = {}
    for start in workers.starts(runtime, job.id):
        started.setdefault((start.sample_id, start.epoch), set()).add(start.attempt)
    expected_reruns = sum(1 for attempts in started.values() if attempts == {1, 2})
    assert job.reruns == expected_reruns == done["progress"]["reruns"]
    assert all(after[key][1] == 2 for key, attempts in started.items() if attempts == {1, 2})


def _tiny_plan(count: int) -> list[dict[str, Any]]:
    return [{"task": f"{TASKS}@tiny", "task_args": {"n": n}} for n in range(count)]


@pytest.mark.slow
@pytest.mark.postgres_only
def test_three_workers_share_two_hundred_jobs_each_done_once(lab: Lab, tmp_path: Path) -> None:
    runtime = lab.world.api.runtime
    sub = lab.submission({"label": "production", "model": "predeploy/scripted-idle"})
    lab.plan(*_tiny_plan(200), name="many")
    campaign = lab.start(sub["id"], "many")
    env = workers.worker_env(runtime, worker_lease_seconds=60, worker_heartbeat_seconds=5)
    log = tmp_path / "workers.log"

    with workers.workers(env, log, 3, "--exit-when-idle") as procs:
        for proc in procs:
            assert proc.wait(timeout=600) == 0, log.read_text()

    done = lab.campaign(campaign["id"])
    assert done["state"] == "completed", done
    jobs = workers.jobs(runtime, campaign["id"])
    assert len(jobs) == 200
    assert all(job.state == "succeeded" and job.attempts == 1 for job in jobs)
    rows = workers.results(runtime, campaign["id"])
    # Each job's one sample was stored exactly once, by that job.
    assert Counter(r.job_id for r in rows) == {job.id: 1 for job in jobs}
    assert sorted(r.score_value for r in rows) == sorted(f"n={n}" for n in range(200))
    owners = {job.claimed_by for job in jobs}
    assert len(owners) == 3
    # At least two workers provably ran jobs at the same time.
    overlapping = any(
        a.claimed_by != b.claimed_by
        and a.started_at is not None
        and b.started_at is not None
        and a.finished_at is not None
        and b.finished_at is not None
        and a.started_at < b.finished_at
        and b.started_at < a.finished_at
        for a in jobs
        for b in jobs
    )
    assert overlapping
