"""The artifact store full or read-only: the attempt fails saying so, the job waits for a retry,
no result row is half-written, and the job completes once the store can be written again.

Running as root, file modes do not stop a write, so the store is made unwritable for real: the
worker runs in its own mount namespace (`unshare --mount`) where the store is a small tmpfs,
either mounted read-only or filled to the last byte. The test then repairs it from outside
(`nsenter` into that namespace) while the same worker goes on.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from predeploy.clock import SystemClock
from tests.campaigns import workers
from tests.campaigns.conftest import Lab, lab  # noqa: F401 (a fixture used below)
from tests.submissions.conftest import world  # noqa: F401 (a fixture `lab` needs)

TASKS = Path(__file__).parents[1] / "campaigns" / "tasks.py"
JOBS = 2
BACKOFF_SECONDS = 3

# In the worker's own mount namespace: a 1 MiB tmpfs over the store, then made read-only or
# filled, then the worker itself (exec keeps the pid, which `nsenter` targets later).
BREAK_STORE = {
    "read-only": 'mount -t tmpfs -o size=1m,mode=0700 tmpfs "$STORE" && '
    'mount -o remount,ro "$STORE"',
    "full": 'mount -t tmpfs -o size=1m,mode=0700 tmpfs "$STORE" && '
    '{ dd if=/dev/zero of="$STORE/filler" bs=64k 2>/dev/null; true; }',
}
REPAIR_STORE = {
    "read-only": ["mount", "-o", "remount,rw", "{store}"],
    "full": ["rm", "{store}/filler"],
}
REASON = {"read-only": "Read-only file system", "full": "No space left on device"}


@pytest.fixture
def clock() -> SystemClock:
    """Worker processes read the real clock, so the test's windows are set by it too."""
    return SystemClock()


def _mount_namespaces_work(tmp_path: Path) -> bool:
    if shutil.which("unshare") is None or shutil.which("nsenter") is None:
        return False
    probe = tmp_path / "probe"
    probe.mkdir()
    result = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "mount", "-t", "tmpfs", "t", probe],
        capture_output=True,
    )
    probe.rmdir()
    return result.returncode == 0


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["read-only", "full"])
def test_an_unwritable_store_fails_the_attempt_clearly_and_the_job_completes_once_fixed(
    lab: Lab,  # noqa: F811 (the imported fixture)
    tmp_path: Path,
    fault: str,
) -> None:
    if not _mount_namespaces_work(tmp_path):
        pytest.skip("needs unshare/nsenter and the right to mount in a new mount namespace")
    runtime = lab.world.api.runtime
    store = Path(runtime.settings.resolved_artifact_store)
    store.mkdir(parents=True, exist_ok=True)
    sub = lab.submission({"label": "production", "model": "predeploy/scripted-idle"})
    lab.plan(*[{"task": f"{TASKS}@tiny", "task_args": {"n": n}} for n in range(JOBS)])
    campaign = lab.start(sub["id"])
    env = workers.worker_env(
        runtime, job_retry_backoff_seconds=BACKOFF_SECONDS, job_max_attempts=50
    )
    env["STORE"] = str(store)
    log = tmp_path / "worker.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c",
             f'{BREAK_STORE[fault]} && exec "$0" worker',
             str(Path(sys.executable).parent / "predeploy")],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        workers.wait_for(
            lambda: any(
                job.last_error and job.state == "queued"
                for job in workers.jobs(runtime, campaign["id"])
            ),
            timeout=60,
            what=f"an attempt to fail on the {fault} store",
        )
        failed = next(
            job
            for job in workers.jobs(runtime, campaign["id"])
            if job.last_error and job.state == "queued"
        )
        # The error says what is wrong and where.
        assert failed.last_error.startswith("the artifact store "), failed.last_error
        assert str(store) in failed.last_error, failed.last_error
        assert REASON[fault] in failed.last_error, failed.last_error
        # The job is back in the queue until a retry time after its failed attempt began.
        assert failed.heartbeat_at is not None
        assert failed.not_before >= failed.heartbeat_at + timedelta(seconds=BACKOFF_SECONDS)
        assert failed.finished_at is None
        campaign_out = lab.campaign(campaign["id"])
        assert campaign_out["state"] == "running"
        jobs_out = {job["id"]: job for job in campaign_out["jobs"]}
        assert jobs_out[failed.id]["last_error"] == failed.last_error
        assert workers.results(runtime, campaign["id"]) == []
        assert proc.poll() is None, log.read_text()

        repair = [part.format(store=store) for part in REPAIR_STORE[fault]]
        subprocess.run(["nsenter", "-t", str(proc.pid), "-m", *repair], check=True)
        workers.wait_for(
            lambda: lab.campaign(campaign["id"])["state"] != "running",
            timeout=90,
            what="the campaign to end once the store is writable",
        )
        assert proc.poll() is None, log.read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    # The worker reported the store on each job and carried on: nothing escaped as a crash.
    assert "Traceback" not in log.read_text(), log.read_text()
    done = lab.campaign(campaign["id"])
    assert done["state"] == "completed", (done, log.read_text())
    jobs = workers.jobs(runtime, campaign["id"])
    assert all(job.state == "succeeded" for job in jobs)
    assert max(job.attempts for job in jobs) >= 2
    rows = workers.results(runtime, campaign["id"])
    # One complete row per job's one sample: none lost, none twice, none half-written.
    assert Counter(row.job_id for row in rows) == {job.id: 1 for job in jobs}
    assert sorted(row.score_value for row in rows) == [f"n={n}" for n in range(JOBS)]
    assert all(row.error_class == "none" and row.total_time is not None for row in rows)
