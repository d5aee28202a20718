"""Real `predeploy worker` processes for fault tests, and reads of the queue's tables."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import select

from predeploy.campaigns.models import Job, SampleResult, SampleStart
from predeploy.demo._scenario import wait_until
from predeploy.demo._scenario import worker_env as worker_env
from predeploy.runtime import Runtime

wait_for = wait_until

RUNNER_MODULE = "predeploy.campaigns._runner"


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
