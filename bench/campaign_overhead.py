"""Benchmark: a predeploy campaign's overhead over plain `inspect eval` on the same task set.

Goals: wall time of (b) / (a) <= 1.10; efficiency against the ideal >= 0.8, where
ideal = samples x turns x latency / connections (what the endpoint's latency alone would take).

Both variants run `predeploy/testing/tasks.py@lookup_flags` (two model turns per sample: `lookup`, then
`submit`; every sample scores correct only if both calls and the tool call went through) against
the fake OpenAI server (`predeploy.testing.FakeOpenAIServer`, fixed latency, no faults) on
127.0.0.1, in its own process so that its CPU is not Inspect's:

- (a) plain: `inspect eval` with the settings a campaign's runner uses (max connections and
  max samples, attempt timeout, sample retries, log buffer, no OpenAI-client retries); timed
  from launching the command to its exit;
- (b) campaign: a plan with the same task, started on an accepted submission whose access
  variant is the fake endpoint; timed from launching `predeploy worker --exit-when-idle`
  (a subprocess, PREDEPLOY_MODEL_MAX_CONNECTIONS set) to its exit, once the campaign completed
  and its results are ingested.

Both times include Inspect's start-up; the table splits each run into start-up (launch to the
first model request), the span of model traffic, and the tail (last reply to exit). Variants
alternate (a, b, a, b, ...) and the judged figures use the medians. A run counts only if every
sample scored correct and every model call got its 200: the run is shown as BROKEN otherwise
and the benchmark exits with status 1.

Usage:
    .venv/bin/python bench/campaign_overhead.py [--samples 2000] [--rounds 2]
    .venv/bin/python bench/campaign_overhead.py --postgres "postgresql+psycopg://postgres@/postgres?host=/var/run/postgresql"
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from _result import emit_result
from predeploy.testing.tasks import LOOKUP_FLAGS_TASK

GOAL_RATIO = 1.10
GOAL_EFFICIENCY = 0.8
TURNS = 2
MODEL = "openai-api/fake/m"  # Inspect reads its key from FAKE_API_KEY
API_KEY = "sk-bench-Hq7Lw2Vx9cRt"
TASK = LOOKUP_FLAGS_TASK
PLAN = "bench-overhead"


# --- the fake endpoint, in its own process ----------------------------------------------------


def serve_fake(latency: float) -> None:
    """The child process: serve the fake endpoint, print its URL, then answer each line read
    on stdin with the traffic seen since the previous line (one JSON line)."""
    from predeploy.testing import FakeOpenAIServer, Script, ToolCall, Turn

    script = Script(
        turns=(
            Turn(tool_calls=(ToolCall("lookup", {"key": "{key}"}),)),
            Turn(tool_calls=(ToolCall("submit", {"answer": "{flag}"}),)),
        ),
        captures={"key": r"K\d{4}", "flag": r"flag\{[0-9a-f]+\}"},
    )
    with FakeOpenAIServer(
        script, latency=latency, api_key=API_KEY, models=("m",), log_level="critical"
    ) as server:
        print(server.base_url, flush=True)
        seen = 0
        for _ in sys.stdin:
            records = server.requests[seen:]
            seen += len(records)
            chat = [r for r in records if r.path == "/v1/chat/completions"]
            usage = resource.getrusage(resource.RUSAGE_SELF)
            window = {
                "calls": len(chat),
                "statuses": dict(Counter(str(r.status) for r in chat)),
                "first_started": min((r.started for r in chat), default=None),
                "last_ended": max((r.ended for r in chat), default=None),
                "cpu": usage.ru_utime + usage.ru_stime,
            }
            print(json.dumps(window), flush=True)


@dataclass
class Traffic:
    """The model calls the fake endpoint saw during one run."""

    calls: int
    statuses: dict[str, int]
    first_started: float | None
    last_ended: float | None
    cpu: float


class FakeEndpoint:
    """The fake OpenAI server running in a child process (see `serve_fake`)."""

    def __init__(self, latency: float) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve-fake", "--latency", str(latency)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self._stdin, self._stdout = self.process.stdin, self.process.stdout
        self.base_url = self._stdout.readline().strip()
        if not self.base_url.startswith("http://127.0.0.1:"):
            self.close()
            raise RuntimeError("the fake OpenAI server did not start")
        self._cpu = 0.0

    def traffic(self) -> Traffic:
        """The calls since the previous call of this method (the first call: since start)."""
        self._stdin.write("\n")
        self._stdin.flush()
        window = json.loads(self._stdout.readline())
        cpu, self._cpu = window["cpu"] - self._cpu, window["cpu"]
        return Traffic(
            window["calls"], window["statuses"], window["first_started"], window["last_ended"], cpu
        )

    def close(self) -> None:
        with contextlib.suppress(BrokenPipeError):
            self._stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# --- one run ----------------------------------------------------------------------------------


@dataclass
class Run:
    """One timed run of one variant."""

    variant: str
    wall: float
    traffic: Traffic
    cpu: float  # user + system seconds of the timed command and its children
    samples: int
    correct: int
    problem: str = ""
    launched: float = 0.0  # time.time() at launch, comparable with the server's timestamps

    @property
    def startup(self) -> float | None:
        first = self.traffic.first_started
        return None if first is None else first - self.launched

    @property
    def span(self) -> float | None:
        first, last = self.traffic.first_started, self.traffic.last_ended
        return None if first is None or last is None else last - first

    @property
    def tail(self) -> float | None:
        last = self.traffic.last_ended
        return None if last is None else self.launched + self.wall - last

    @property
    def ok(self) -> bool:
        return not self.problem


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(
    variant: str, command: list[str], env: dict[str, str], cwd: Path, timeout: float
) -> tuple[float, float, float, subprocess.CompletedProcess[str]]:
    """Run `command` to its end: (launch time.time(), wall seconds, CPU seconds, result)."""
    cpu_before = _children_cpu()
    launched = time.time()
    started = time.perf_counter()
    try:
        result = subprocess.run(
            command, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"{variant}: no end after {timeout:.0f} s: {command}") from exc
    wall = time.perf_counter() - started
    return launched, wall, _children_cpu() - cpu_before, result


def _tool(name: str) -> str:
    """A console script of this virtualenv (next to the interpreter running the benchmark)."""
    path = Path(sys.executable).with_name(name)
    if not path.exists():
        raise SystemExit(f"{path} not found: run with the project's .venv/bin/python")
    return str(path)


def _traffic_problem(traffic: Traffic, samples: int) -> str:
    if traffic.calls != samples * TURNS or set(traffic.statuses) != {"200"}:
        return f"model calls: {traffic.calls} (want {samples * TURNS}), statuses {traffic.statuses}"
    return ""


@dataclass
class BenchSettings:
    """The settings both variants share (the campaign's, from `predeploy.config.Settings`)."""

    samples: int
    connections: int
    latency: float
    attempt_timeout: float
    sample_retries: int
    log_buffer: int
    timeout: float


def run_plain(endpoint: FakeEndpoint, s: BenchSettings, workdir: Path, index: int) -> Run:
    """(a): `inspect eval`, with the options a campaign's runner passes to `eval_set`."""
    log_dir = workdir / f"plain-{index}"
    command = [
        _tool("inspect"), "eval", TASK, "-T", f"samples={s.samples}",
        "--model", MODEL, "--model-base-url", endpoint.base_url, "-M", "max_retries=0",
        "--max-connections", str(s.connections), "--max-samples", str(s.connections),
        "--attempt-timeout", str(int(s.attempt_timeout)),
        "--retry-on-error", str(s.sample_retries), "--no-fail-on-error",
        "--log-buffer", str(s.log_buffer), "--log-format", "eval", "--log-dir", str(log_dir),
        "--display", "none", "--log-level", "warning",
    ]  # fmt: skip
    env = dict(os.environ)
    env["FAKE_API_KEY"] = API_KEY
    # Inspect's sample buffer in a fresh directory, as in a campaign's data dir.
    env["XDG_DATA_HOME"] = str(workdir / f"plain-{index}-xdg" / "data")
    env["XDG_CACHE_HOME"] = str(workdir / f"plain-{index}-xdg" / "cache")
    endpoint.traffic()
    launched, wall, cpu, result = timed("plain", command, env, workdir, s.timeout)
    traffic = endpoint.traffic()
    correct, problem = _plain_results(log_dir, s.samples)
    if result.returncode != 0:
        problem = f"inspect eval exited {result.returncode}: {result.stderr.strip()[-500:]}"
    problem = problem or _traffic_problem(traffic, s.samples)
    return Run("a: inspect eval", wall, traffic, cpu, s.samples, correct, problem, launched)


def _plain_results(log_dir: Path, samples: int) -> tuple[int, str]:
    from inspect_ai.log import list_eval_logs, read_eval_log, read_eval_log_sample_summaries

    logs = list_eval_logs(str(log_dir)) if log_dir.exists() else []
    if len(logs) != 1:
        return 0, f"{len(logs)} eval logs in {log_dir} (want 1)"
    header = read_eval_log(logs[0], header_only=True)
    summaries = read_eval_log_sample_summaries(logs[0])
    correct = sum(
        1
        for summary in summaries
        if summary.error is None
        and summary.scores
        and next(iter(summary.scores.values())).value == "C"
    )
    if header.status != "success" or len(summaries) != samples or correct != samples:
        return correct, f"log {header.status}: {len(summaries)} samples, {correct} correct"
    return correct, ""


# --- the campaign side ------------------------------------------------------------------------


@dataclass
class Lab:
    """An installation with an accepted submission whose variant is the fake endpoint."""

    runtime: Any
    evaluator: Any
    submission_id: str
    env: dict[str, str]


def make_lab(data_dir: Path, database_url: str | None, s: BenchSettings, base_url: str) -> Lab:
    from predeploy.accounts import Actor
    from predeploy.accounts.models import Capacity, Role
    from predeploy.accounts.schemas import OrgCreate, TokenCreate, UserCreate
    from predeploy.accounts.service import (
        authenticate,
        bootstrap,
        create_org,
        create_user,
        issue_token,
    )
    from predeploy.campaigns.plans import import_plan, validate_plan
    from predeploy.config import Settings
    from predeploy.migrate import upgrade
    from predeploy.runtime import Runtime
    from predeploy.submissions.schemas import ModelCreate, SubmissionCreate
    from predeploy.submissions.service import create_model, create_submission, transition
    from predeploy.submissions.states import State

    settings = Settings(
        data_dir=data_dir, database_url=database_url, model_max_connections=s.connections
    )
    runtime = Runtime(settings=settings)  # creates the data dir
    upgrade(settings.resolved_database_url)
    system = Actor.system("bench")
    with runtime.unit(system) as ctx:
        agency = bootstrap(ctx, "Bench Agency", "admin@agency.bench")
        acme = create_org(ctx, OrgCreate(name="Acme AI", capacities=[Capacity.DEVELOPER])).id
        users = {
            "submitter": create_user(
                ctx, UserCreate(email="dev@acme.bench", org_id=acme, roles=[Role.SUBMITTER])
            ).id,
            "evaluator": create_user(
                ctx,
                UserCreate(email="eval@agency.bench", org_id=agency.org_id, roles=[Role.EVALUATOR]),
            ).id,
        }
        tokens = {
            name: issue_token(ctx, TokenCreate(user_id=uid)).token for name, uid in users.items()
        }

    def actor(name: str) -> Any:
        with runtime.transaction() as session:
            return authenticate(session, runtime.clock, tokens[name])

    submitter, evaluator = actor("submitter"), actor("evaluator")
    with runtime.unit(submitter) as ctx:
        model = create_model(ctx, ModelCreate(name="acme-m1", version="bench"))
        release = runtime.clock.now() + timedelta(days=20)
        variant = {"label": "production", "model": MODEL, "base_url": base_url, "api_key": API_KEY}
        body = {"model_id": model.id, "planned_release_at": release, "access_variants": [variant]}
        sub = create_submission(ctx, SubmissionCreate.model_validate(body))
        transition(ctx, sub.id, State.SUBMITTED)
    with runtime.unit(evaluator) as ctx:
        transition(ctx, sub.id, State.ACCEPTED, "benchmark")
        plan = {
            "name": PLAN,
            "estimated_duration": "1h",
            "items": [{"task": TASK, "task_args": {"samples": s.samples}}],
            # The same work as the plain Inspect run: without the identity probes campaigns add.
            "identity_probes": None,
        }
        import_plan(ctx, validate_plan(plan))
    env = dict(os.environ)
    env.pop("FAKE_API_KEY", None)  # the worker takes the key from the submission
    env["PREDEPLOY_DATA_DIR"] = str(data_dir)
    env["PREDEPLOY_MODEL_MAX_CONNECTIONS"] = str(s.connections)
    if database_url:
        env["PREDEPLOY_DATABASE_URL"] = database_url
    return Lab(runtime, evaluator, sub.id, env)


def run_campaign(endpoint: FakeEndpoint, lab: Lab, s: BenchSettings, workdir: Path) -> Run:
    """(b): start a campaign, then time `predeploy worker --exit-when-idle` to its exit."""
    from predeploy.campaigns.service import get_campaign, list_results, start_campaign

    with lab.runtime.unit(lab.evaluator) as ctx:
        campaign_id = start_campaign(ctx, lab.submission_id, PLAN).id
    command = [_tool("predeploy"), "worker", "--exit-when-idle", "--json"]
    endpoint.traffic()
    launched, wall, cpu, result = timed("campaign", command, lab.env, workdir, s.timeout)
    traffic = endpoint.traffic()
    with lab.runtime.unit(lab.evaluator, read_only=True) as ctx:
        campaign = get_campaign(ctx, campaign_id)
        results = list_results(ctx, campaign_id)
    correct = sum(1 for r in results if r.score == 1.0 and r.error_class == "none")
    problem = ""
    if result.returncode != 0:
        problem = f"worker exited {result.returncode}: {result.stderr.strip()[-500:]}"
    elif campaign.state != "completed" or len(results) != s.samples or correct != s.samples:
        problem = f"campaign {campaign.state}: {len(results)} results, {correct} correct"
    problem = problem or _traffic_problem(traffic, s.samples)
    return Run("b: campaign", wall, traffic, cpu, s.samples, correct, problem, launched)


# --- main -------------------------------------------------------------------------------------


@contextlib.contextmanager
def database(postgres: str | None) -> Iterator[str | None]:
    """None (SQLite in the data dir), or a fresh database on the PostgreSQL server `postgres`."""
    if not postgres:
        yield None
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"predeploy_bench_{os.getpid()}"
    admin = create_engine(postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(postgres).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def report(runs: list[Run], s: BenchSettings, backend: str) -> bool:
    """Print the table and the judged figures; whether every run was sound."""
    ideal = s.samples * TURNS * s.latency / s.connections
    print(
        f"\ncampaign overhead: {s.samples} samples x {TURNS} turns, {s.latency * 1000:.0f} ms "
        f"latency, {s.connections} connections, {backend}; ideal {ideal:.1f} s\n"
    )
    header = (
        f"{'variant':<16}{'wall s':>8}{'start-up':>10}{'traffic':>9}{'tail':>7}"
        f"{'calls/s':>9}{'CPU s':>8}{'CPU ms/sample':>15}{'server CPU':>12}"
        f"{'efficiency':>12}  correct"
    )
    print(header)
    print("-" * len(header))
    for run in runs:
        span = run.span
        rate = f"{run.traffic.calls / span:.0f}" if span else "-"
        correct = f"{run.correct}/{run.samples}" + ("" if run.ok else "  BROKEN")
        print(
            f"{run.variant:<16}{run.wall:>8.1f}{_seconds(run.startup):>10}{_seconds(span):>9}"
            f"{_seconds(run.tail):>7}{rate:>9}{run.cpu:>8.1f}"
            f"{run.cpu / run.samples * 1000:>15.0f}{run.traffic.cpu:>12.1f}"
            f"{ideal / run.wall:>12.3f}  {correct}"
        )
    for run in runs:
        if not run.ok:
            print(f"BROKEN {run.variant}: {run.problem}")
    plain = statistics.median(r.wall for r in runs if r.variant.startswith("a"))
    campaign = statistics.median(r.wall for r in runs if r.variant.startswith("b"))
    ratio = campaign / plain
    print(
        f"\nmedian wall: (a) inspect eval {plain:.1f} s, (b) campaign {campaign:.1f} s"
        f"\njudged ratio b/a: {ratio:.3f} (goal <= {GOAL_RATIO:.2f}: "
        f"{'met' if ratio <= GOAL_RATIO else 'NOT met'})"
    )
    for label, wall in (("(a) inspect eval", plain), ("(b) campaign", campaign)):
        efficiency = ideal / wall
        verdict = "met" if efficiency >= GOAL_EFFICIENCY else "NOT met"
        print(
            f"judged efficiency {label}: ideal {ideal:.1f} s / {wall:.1f} s = {efficiency:.3f} "
            f"(goal >= {GOAL_EFFICIENCY}: {verdict})"
        )
    sound = all(run.ok for run in runs)
    efficiency = ideal / campaign
    emit_result(
        __file__,
        figure=f"b/a {ratio:.3f}; efficiency (b) {efficiency:.3f} ({backend})"
        + ("" if sound else "; BROKEN runs"),
        goal=f"b/a <= {GOAL_RATIO:.2f}; efficiency >= {GOAL_EFFICIENCY}",
        ratio=ratio,
        met=sound and ratio <= GOAL_RATIO and efficiency >= GOAL_EFFICIENCY,
    )
    return sound


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=2000, help="samples per run (>= 500)")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each variant, alternated")
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per model call")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--timeout", type=float, default=1800, help="seconds allowed per run")
    parser.add_argument("--postgres", metavar="URL", help="run the campaign on PostgreSQL")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs, data)")
    parser.add_argument("--serve-fake", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_fake:
        serve_fake(args.latency)
        return 0
    if not 1 <= args.samples <= 9999:  # the task's keys have four digits
        parser.error("--samples must be from 1 to 9999 (the issue asks for >= 500)")

    from predeploy.config import Settings

    defaults = Settings()
    s = BenchSettings(
        samples=args.samples,
        connections=args.connections,
        latency=args.latency,
        attempt_timeout=defaults.model_attempt_timeout_seconds,
        sample_retries=defaults.sample_error_retries,
        log_buffer=defaults.log_flush_samples,
        timeout=args.timeout,
    )
    backend = "PostgreSQL" if args.postgres else "SQLite"
    workdir = Path(tempfile.mkdtemp(prefix="predeploy-bench-campaign-"))
    endpoint = FakeEndpoint(args.latency)
    runs: list[Run] = []
    try:
        with database(args.postgres) as url:
            lab = make_lab(workdir / "data", url, s, endpoint.base_url)
            for index in range(args.rounds):
                for variant in ("a", "b"):
                    if variant == "a":
                        run = run_plain(endpoint, s, workdir, index)
                    else:
                        run = run_campaign(endpoint, lab, s, workdir)
                    runs.append(run)
                    print(
                        f"round {index + 1} {run.variant}: {run.wall:.1f} s, "
                        f"{run.correct}/{run.samples} correct{'' if run.ok else ' BROKEN'}",
                        flush=True,
                    )
            assert lab.runtime.engine is not None
            lab.runtime.engine.dispose()
    finally:
        endpoint.close()
        if args.keep:
            print(f"work dir kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0 if report(runs, s, backend) else 1


if __name__ == "__main__":
    sys.exit(main())
