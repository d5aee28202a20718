"""Real `predeploy worker` processes for fault tests, and reads of the queue's tables."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import select

from predeploy.campaigns.models import Job, SampleResult, SampleStart
from predeploy.runtime import Runtime

RUNNER_MODULE = "predeploy.campaigns._runner"


def worker_env(runtime: Runtime, **settings: Any) -> dict[str, str]:
    """The environment of a worker process on the same database and data dir as `runtime`."""
    env = dict(os.environ)
    env["PREDEPLOY_DATA_DIR"] = str(runtime.settings.data_dir)
    env["PREDEPLOY_DATABASE_URL"] = runtime.settings.resolved_database_url
    env["PREDEPLOY_ARTIFACT_STORE"] = runtime.settings.resolved_artifact_store
    defaults = {
        "worker_lease_seconds": 3,
        "worker_heartbeat_seconds": 0.5,
        "worker_ingest_seconds": 0.5,
        "worker_poll_seconds": 0.2,
        "job_retry_backoff_seconds": 0,
        "log_flush_samples": 1,
    }
    for name, value in (defaults | settings).items():
        env[f"PREDEPLOY_{name.upper()}"] = str(value)
    return env


def start_worker(env: dict[str, str], log: Path, *args: str) -> subprocess.Popen[bytes]:
    handle = log.open("ab")
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "predeploy"), "worker", *args],
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
    )


@contextmanager
def workers(env: dict[str, str], log: Path, count: int, *args: str) -> Iterator[list[Any]]:
    """`count` worker processes, killed on the way out if still running."""
    procs = [start_worker(env, log, *args) for _ in range(count)]
    try:
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            proc.wait()


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `condition` until it holds; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def runner_pids(runtime: Runtime) -> set[int]:
    """Job runner processes working for `runtime`'s data dir (other tests may run their own)."""
    marker = str(runtime.settings.data_dir.resolve()).encode()
    pids = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if RUNNER_MODULE.encode() in cmdline and marker in environ:
            pids.add(int(entry.name))
    return pids


def jobs(runtime: Runtime, campaign_id: str) -> list[Job]:
    with runtime.transaction(read_only=True) as session:
        return list(session.scalars(select(Job).where(Job.campaign_id == campaign_id)).all())


def results(runtime: Runtime, campaign_id: str) -> list[SampleResult]:
    with runtime.transaction(read_only=True) as session:
        return list(
            session.scalars(
                select(SampleResult).where(SampleResult.campaign_id == campaign_id)
            ).all()
        )


def starts(runtime: Runtime, job_id: str) -> list[SampleStart]:
    with runtime.transaction(read_only=True) as session:
        return list(session.scalars(select(SampleStart).where(SampleStart.job_id == job_id)).all())
