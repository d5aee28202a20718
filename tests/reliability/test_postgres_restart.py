"""PostgreSQL restarted in the middle of a campaign: the workers reconnect and finish it, and every
sample result is stored exactly once.

The test starts its own throwaway cluster (initdb and pg_ctl, on a free loopback port, trust auth),
never the shared server: stopping that one would break every other test running meanwhile.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import textwrap
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from predeploy.clock import SystemClock
from predeploy.migrate import upgrade
from tests.campaigns import workers
from tests.campaigns.conftest import Lab, lab  # noqa: F401 (a fixture used below)
from tests.submissions.conftest import world  # noqa: F401 (a fixture `lab` needs)

JOBS = 4
SAMPLES = 3
WORKERS = 2

# Each job's first sample runs at once; the others wait until the test creates `go` in the gate
# folder, so that both workers are provably in the middle of a job while PostgreSQL restarts.
HELD_TASK = """
from pathlib import Path

import anyio
from inspect_ai import Task, task
from inspect_ai.dataset import Sample
from inspect_ai.scorer import Score, Target, accuracy, scorer
from inspect_ai.solver import Generate, TaskState, generate, solver


@solver
def held(gate: str):
    async def solve(state: TaskState, generate_: Generate) -> TaskState:
        if not str(state.sample_id).endswith("-0"):
            (Path(gate) / f"waiting-{state.sample_id}").touch()
            while not (Path(gate) / "go").exists():
                await anyio.sleep(0.1)
        return state

    return solve


@scorer(metrics=[accuracy()])
def names_its_sample():
    async def score(state: TaskState, target: Target) -> Score:
        return Score(value="C", answer=str(state.sample_id))

    return score


@task
def held_job(job: int, gate: str, samples: int) -> Task:
    return Task(
        dataset=[Sample(id=f"{job}-{i}", input=f"job {job} sample {i}") for i in range(samples)],
        solver=[held(gate), generate()],
        scorer=names_its_sample(),
    )
"""


@dataclass
class Cluster:
    """A PostgreSQL cluster of the test's own: its data dir, port and the user running it."""

    bin_dir: Path
    data_dir: Path
    port: int
    run_as: list[str]

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def pg_ctl(self, *args: str, check: bool = True) -> None:
        subprocess.run(
            [*self.run_as, str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-w", *args],
            check=check,
            capture_output=True,
            timeout=60,
        )

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data_dir} -c fsync=off"
        self.pg_ctl("-l", str(self.data_dir / "server.log"), "-o", options, "start")

    def stop(self) -> None:
        self.pg_ctl("-m", "fast", "stop")


def _postgres_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: p.parent.parent)
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    """A fresh cluster, stopped and removed afterwards whatever happened."""
    bin_dir = _postgres_bin()
    if bin_dir is None:
        pytest.skip("needs PostgreSQL's server binaries (initdb, pg_ctl)")
    # initdb refuses to run as root: the cluster then belongs to the `postgres` system user, in
    # a folder of /tmp it can reach (pytest's tmp_path is root's only).
    run_as: list[str] = []
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root, with no postgres user to run initdb as")
        if shutil.which("runuser") is None:
            pytest.skip("running as root, and runuser is missing to run initdb as postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    root = Path(tempfile.mkdtemp(prefix="predeploy-pg-"))
    data_dir = root / "data"
    if run_as:
        shutil.chown(root, "postgres")
    instance = Cluster(bin_dir, data_dir, _free_port(), run_as)
    started = False
    try:
        subprocess.run(
            [*run_as, str(bin_dir / "initdb"), "-D", str(data_dir), "-U", "postgres",
             "-A", "trust", "-E", "UTF8", "--no-sync"],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        instance.start()
        started = True
        yield instance
    finally:
        if started:
            # Immediate: the test's own pooled connections must not hold the shutdown up.
            instance.pg_ctl("-m", "immediate", "stop", check=False)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def db_url(cluster: Cluster) -> str:
    """This module's tests run on the throwaway cluster only."""
    upgrade(cluster.url)
    return cluster.url


@pytest.fixture
def clock() -> SystemClock:
    """Worker processes read the real clock, so the test's windows are set by it too."""
    return SystemClock()


@pytest.mark.slow
def test_workers_reconnect_after_a_restart_and_store_each_result_once(
    lab: Lab,  # noqa: F811 (the imported fixture)
    cluster: Cluster,
    tmp_path: Path,
) -> None:
    runtime = lab.world.api.runtime
    gate = tmp_path / "gate"
    gate.mkdir()
    task_file = tmp_path / "held_tasks.py"
    task_file.write_text(textwrap.dedent(HELD_TASK))
    sub = lab.submission({"label": "production", "model": "predeploy/scripted-idle"})
    args = {"gate": str(gate), "samples": SAMPLES}
    lab.plan(
        *[{"task": f"{task_file}@held_job", "task_args": {"job": n, **args}} for n in range(JOBS)]
    )
    campaign = lab.start(sub["id"])
    # A lease longer than the outage: no job may be claimed by another worker meanwhile.
    env = workers.worker_env(runtime, worker_lease_seconds=20)
    log = tmp_path / "workers.log"

    with workers.workers(env, log, WORKERS) as procs:
        # Both workers in the middle of a job (its first sample stored, the others waiting).
        workers.wait_for(
            lambda: (
                len({path.name.split("-")[1] for path in gate.glob("waiting-*")}) == WORKERS
                and len(workers.results(runtime, campaign["id"])) >= WORKERS
            ),
            timeout=90,
            what="both workers to be in the middle of a job",
        )
        before = {
            (row.sample_id, row.epoch): (row.job_id, row.attempt)
            for row in workers.results(runtime, campaign["id"])
        }
        cluster.stop()
        # The workers notice while the server is down (their heartbeats fail), not only after.
        workers.wait_for(
            lambda: log.read_text().count("the database cannot be reached") >= WORKERS,
            timeout=30,
            what="both workers to report the database unreachable",
        )
        cluster.start()
        (gate / "go").touch()
        workers.wait_for(
            lambda: lab.campaign(campaign["id"])["state"] != "running",
            timeout=90,
            what="the campaign to end",
        )
        assert all(proc.poll() is None for proc in procs), log.read_text()
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            assert proc.wait(timeout=30) == 0, log.read_text()

    text = log.read_text()
    assert text.count("reconnected to the database") >= WORKERS, text
    assert "Traceback" not in text, text
    done = lab.campaign(campaign["id"])
    assert done["state"] == "completed", (done, text)
    jobs = workers.jobs(runtime, campaign["id"])
    assert len(jobs) == JOBS
    # The jobs in flight during the restart went on: no attempt was lost to it.
    assert all(job.state == "succeeded" and job.attempts == 1 for job in jobs)
    assert len({job.claimed_by for job in jobs}) == WORKERS
    rows = workers.results(runtime, campaign["id"])
    keys = Counter((row.sample_id, row.epoch) for row in rows)
    # Every sample of every job stored, none twice, each by its own job.
    assert keys == {(f"{job}-{i}", 1): 1 for job in range(JOBS) for i in range(SAMPLES)}
    assert all(row.answer == row.sample_id and row.score == 1.0 for row in rows)
    job_of_item = {job.item_index: job.id for job in jobs}
    assert all(row.job_id == job_of_item[row.item_index] for row in rows)
    # What was stored before the restart was kept as it was.
    after = {(row.sample_id, row.epoch): (row.job_id, row.attempt) for row in rows}
    assert all(after[key] == value for key, value in before.items())
