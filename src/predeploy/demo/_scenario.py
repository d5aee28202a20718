"""What the self-test's scenarios share: a submission of a fake model, a campaign against it,
and worker processes on this deployment's database and data dir."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from ..campaigns.models import Job
from ..client import Client
from ..runtime import Runtime

# Short leases and quick polls, so that a killed worker's job is taken over within seconds.
FAST_WORKER = {
    "worker_lease_seconds": 3,
    "worker_heartbeat_seconds": 0.5,
    "worker_ingest_seconds": 0.5,
    "worker_poll_seconds": 0.2,
    "job_retry_backoff_seconds": 0,
    "log_flush_samples": 1,
}


def start_fake_model_campaign(
    runtime: Runtime,
    submitter: Client,
    evaluator: Client,
    model_id: str,
    variant: dict[str, Any],
    plan_name: str,
    items: list[dict[str, Any]],
) -> str:
    """Submit `variant` (a fake model) as a version of `model_id`, accept it, import a plan of
    `items` named `plan_name` and start its campaign; return the campaign id."""
    now = runtime.clock.now()
    submission = submitter.create_submission(
        model_id=model_id,
        planned_release_at=(now + timedelta(days=20)).isoformat(),
        access_variants=[variant],
    )
    submitter.transition(submission["id"], "submitted", f"selftest: {plan_name}")
    evaluator.transition(submission["id"], "accepted", f"selftest: {plan_name}")
    plan = evaluator.import_plan(
        {"name": plan_name, "estimated_duration": "10m", "identity_probes": None, "items": items}
    )
    campaign = evaluator.start_campaign(submission["id"], f"{plan['name']}@{plan['version']}")
    return str(campaign["id"])


def worker_env(runtime: Runtime, **overrides: Any) -> dict[str, str]:
    """The environment of a worker process on `runtime`'s database, data dir and artifact store,
    with the `FAST_WORKER` settings and any `overrides`."""
    settings = runtime.settings
    env = dict(os.environ)
    env["PREDEPLOY_DATA_DIR"] = str(settings.data_dir)
    env["PREDEPLOY_DATABASE_URL"] = settings.resolved_database_url
    env["PREDEPLOY_ARTIFACT_STORE"] = settings.resolved_artifact_store
    for name, value in (FAST_WORKER | overrides).items():
        env[f"PREDEPLOY_{name.upper()}"] = str(value)
    return env


class WorkerProcesses:
    """`predeploy worker --exit-when-idle` processes with `worker_env(runtime, **overrides)`,
    their output appended to `log`."""

    def __init__(self, runtime: Runtime, log: Path, **overrides: Any) -> None:
        self.env = worker_env(runtime, **overrides)
        log.parent.mkdir(parents=True, exist_ok=True)
        self.log = log

    def start(self) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as handle:
            return subprocess.Popen(
                [sys.executable, "-m", "predeploy", "worker", "--exit-when-idle"],
                env=self.env,
                stdout=handle,
                stderr=subprocess.STDOUT,
            )

    def run_to_end(self, timeout: float) -> None:
        """Start one worker and wait for it to exit, having run every runnable job."""
        worker = self.start()
        try:
            code = worker.wait(timeout=timeout)
        except subprocess.TimeoutExpired as expired:
            worker.kill()
            worker.wait()
            raise RuntimeError(
                f"a self-test worker ran past {timeout:.0f} s; see {self.log}"
            ) from expired
        if code != 0:
            raise RuntimeError(f"a self-test worker exited with status {code}; see {self.log}")


def campaign_jobs(runtime: Runtime, campaign_id: str) -> list[Job]:
    with runtime.transaction(read_only=True) as session:
        return list(session.scalars(select(Job).where(Job.campaign_id == campaign_id)).all())


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `condition` until it holds; raise naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"the self-test timed out waiting for {what}")
        time.sleep(0.1)


def exited_or_leased(worker: subprocess.Popen[bytes], runtime: Runtime, campaign_id: str) -> bool:
    """The worker exited, or a job of the campaign runs under a lease that has not run out (a
    live claim: a killed worker's job stays `running` until another worker takes it over)."""
    if worker.poll() is not None:
        return True
    now = runtime.clock.now()
    return any(
        job.state == "running" and job.lease_expires_at is not None and job.lease_expires_at > now
        for job in campaign_jobs(runtime, campaign_id)
    )
