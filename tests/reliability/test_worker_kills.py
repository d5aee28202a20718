"""A worker killed with SIGKILL at ten random points of a campaign: no sample result is lost or
stored twice, and every re-run is counted.

Real `predeploy worker` processes run a campaign of suite jobs and identity probes (the closing
probes are held until the other jobs end, so kills also land around that hand-over). Each kill
comes at a random moment after the worker has claimed a job; the next worker starts once the
dead one's runner is gone and its lease has run out. The random points come from a seeded
generator whose seed is printed, so a failing run can be replayed.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter
from functools import partial
from pathlib import Path

import pytest

from predeploy.clock import SystemClock
from predeploy.demo._scenario import exited_or_leased
from predeploy.identity import PROBE_SET
from tests.campaigns import workers
from tests.campaigns.conftest import Lab
from tests.campaigns.conftest import lab as lab
from tests.submissions.conftest import world as world

KILLS = 10
SUITE_ITEMS = [
    {
        "task": "predeploy/cyber_suite",
        "task_args": {"levels": levels, "seeds": [3, 4]},
        "limits": {"messages": 20},
    }
    for levels in ([1, 2], [3])
]


@pytest.fixture
def clock() -> SystemClock:
    """Worker processes read the real clock, so the test's windows are set by it too."""
    return SystemClock()


@pytest.mark.slow
def test_ten_random_kills_lose_nothing_and_store_nothing_twice(lab: Lab, tmp_path: Path) -> None:
    seed = int(os.environ.get("PREDEPLOY_TEST_KILL_SEED", random.SystemRandom().randrange(2**32)))
    print(f"kill points seeded with PREDEPLOY_TEST_KILL_SEED={seed}")
    rng = random.Random(seed)
    runtime = lab.world.api.runtime
    sub = lab.submission()
    lab.plan(*SUITE_ITEMS, identity_probes=PROBE_SET.id)
    campaign = lab.start(sub["id"])
    env = workers.worker_env(runtime, model_max_connections=2)
    log = tmp_path / "workers.log"

    kills_mid_job = 0
    for _ in range(KILLS):
        worker = workers.start_worker(env, log, "--exit-when-idle")
        try:
            workers.wait_for(
                partial(exited_or_leased, worker, runtime, campaign["id"]),
                timeout=120,
                what="the worker to claim a job",
            )
            time.sleep(rng.uniform(0.0, 2.5))
        finally:
            running = worker.poll() is None
            worker.send_signal(signal.SIGKILL)
            worker.wait()
        if not running:
            break  # the campaign ended before this kill: nothing left to interrupt
        kills_mid_job += 1
        workers.wait_for(lambda: not workers.runner_pids(runtime), timeout=10, what="the runner")
        workers.wait_for(
            lambda: all(
                job.lease_expires_at is None or job.lease_expires_at <= runtime.clock.now()
                for job in workers.jobs(runtime, campaign["id"])
            ),
            timeout=30,
            what="the killed worker's lease to run out",
        )

    last = workers.start_worker(env, log, "--exit-when-idle")
    assert last.wait(timeout=600) == 0, log.read_text()[-4000:]

    assert kills_mid_job >= KILLS - 2, f"only {kills_mid_job} kills landed while a job ran"
    done = lab.campaign(campaign["id"])
    assert done["state"] == "completed", done
    jobs = workers.jobs(runtime, campaign["id"])
    rows = workers.results(runtime, campaign["id"])
    stored = Counter((row.job_id, row.sample_id, row.epoch) for row in rows)
    assert max(stored.values()) == 1  # nothing stored twice
    for job in jobs:
        mine = [row for row in rows if row.job_id == job.id]
        # Nothing lost: every sample of every job is stored, and scored.
        assert job.samples_total is not None and len(mine) == job.samples_total, job.task
        assert all(row.error_class == "none" for row in mine), job.task
        # A re-run is a sample started by more than one attempt.
        started: dict[tuple[str, int], set[int]] = {}
        for start in workers.starts(runtime, job.id):
            started.setdefault((start.sample_id, start.epoch), set()).add(start.attempt)
        assert job.reruns == sum(len(attempts) - 1 for attempts in started.values())
    assert sum(job.attempts for job in jobs) > len(jobs)  # the kills did interrupt jobs
    suite_rows = [row for row in rows if row.task == "predeploy/cyber_suite"]
    assert len(suite_rows) == 8 * 3 * 2 and all(row.score == 1.0 for row in suite_rows)
