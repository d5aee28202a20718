"""The job runner: one child process per job attempt, running Inspect's `eval_set`.

The worker starts it with `python -m predeploy.campaigns._runner --events-fd N` and writes one JSON
line per job to its standard input: the job's spec, its log dir, the database URL and the model's
API key. The key lives only in this process's memory and in the model client Inspect builds from it.
Jobs run one at a time; the process stays for the next one, so Inspect starts once per worker.
A job that must stop is stopped by killing the process (the worker starts a new one), and a dead
worker takes its runner with it (PR_SET_PDEATHSIG).

Two hooks guard and report the run:
- a *gate* before every model call (each retry included) re-reads the job, campaign and
  submission: once a withdrawal, cancellation, take-over or access expiry has committed, no new
  request reaches the model; the runner reports it and waits to be killed;
- every sample start is written to the database before the sample runs, so that a later attempt
  can count the samples it runs again.
Both are coalesced (`_coalesce`): calls that arrive while a read or write is in progress share
the next one, on a connection the job keeps. While the database cannot be reached, both wait: the
gate stays closed.
Progress (samples started and ended, retried model failures) goes to the worker as JSON lines on
the events pipe.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

import anyio
import anyio.lowlevel
from inspect_ai import eval_set
from inspect_ai.hooks import (
    BeforeModelGenerate,
    Hooks,
    ModelRetry,
    SampleAttemptEnd,
    SampleEnd,
    SampleStart,
    TaskStart,
    hooks,
)
from inspect_ai.model import (
    GenerateConfig,
    Model,
    ModelCost,
    ModelInfo,
    get_model,
    get_model_info,
    set_model_info,
)
from inspect_ai.solver import SolverSpec
from sqlalchemy import Connection, Engine, select

from ..db import READ_ONLY_OPTION, make_engine, upsert_insert
from ..submissions.models import Submission
from ._coalesce import Coalesced
from ._queue import refusal
from .models import Campaign, Job
from .models import SampleStart as SampleStartRow
from .schemas import CampaignState, JobState


@dataclass
class _HeldConnection:
    """One database connection kept for a job's checks or writes (one user at a time: a
    `Coalesced` call), dropped on any error so that the next use connects afresh."""

    engine: Engine
    connection: Connection | None = None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Connection]:
        if self.connection is None:
            self.connection = self.engine.connect()
        try:
            with self.connection.begin():
                yield self.connection
        except Exception:
            self.close()
            raise

    def close(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(Exception):
                self.connection.close()
            self.connection = None


@dataclass
class RunnerJob:
    """The job this process runs, as the hooks need it."""

    job_id: str
    attempt: int
    owner: str
    engine: Engine
    clock_offset: timedelta
    events: TextIO
    gate_closed: str | None = None
    _reader: _HeldConnection = field(init=False)
    _writer: _HeldConnection = field(init=False)
    _loop: object = None
    _gate: Coalesced[None, str | None] | None = None
    _record_starts: Coalesced[tuple[str, int], None] | None = None

    def __post_init__(self) -> None:
        # The reader begins deferred on SQLite, so a check never takes (or waits for) the write
        # lock that sample starts, heartbeats and ingest hold.
        self._reader = _HeldConnection(self.engine.execution_options(**{READ_ONLY_OPTION: True}))
        self._writer = _HeldConnection(self.engine)
        self._gate_query = (
            select(
                Job.state,
                Job.lease_owner,
                Job.attempts,
                Campaign.state.label("campaign_state"),
                Submission.state.label("submission_state"),
                Submission.access_expires_at,
                Submission.report_due_at,
            )
            .join(Campaign, Campaign.id == Job.campaign_id)
            .join(Submission, Submission.id == Campaign.submission_id)
            .where(Job.id == self.job_id)
        )

    def now(self) -> datetime:
        return datetime.now(UTC) + self.clock_offset

    def emit(self, event: dict[str, Any]) -> None:
        self.events.write(json.dumps(event) + "\n")
        self.events.flush()

    async def may_call_model(self) -> str | None:
        """Why no model call may start now (None: it may), read after this call was made."""
        return await self._coalesced()[0](None)

    async def sample_started(self, sample_id: str, epoch: int) -> None:
        """Return once the sample's start is in the database."""
        await self._coalesced()[1]((sample_id, epoch))

    def _coalesced(
        self,
    ) -> tuple[Coalesced[None, str | None], Coalesced[tuple[str, int], None]]:
        # Each `eval` inside `eval_set` (a task retry) runs its own event loop, and a lock
        # belongs to one loop.
        loop = anyio.lowlevel.current_token().native_token
        if self._gate is None or self._record_starts is None or self._loop is not loop:
            self._loop = loop
            self._gate = Coalesced(self.gate, on_failure=self._database_error)
            self._record_starts = Coalesced(self.record_starts, on_failure=self._database_error)
        return self._gate, self._record_starts

    def _database_error(self, exc: Exception) -> None:
        self.emit({"type": "database_error", "error": f"{type(exc).__name__}: {exc}"[:500]})

    def gate(self, _calls: list[None]) -> str | None:
        """Why no model call may start now (None: it may): one read of the job, campaign and
        submission, for every call waiting."""
        with self._reader.transaction() as conn:
            row = conn.execute(self._gate_query).first()
        if row is None:
            return "the job no longer exists"
        if (
            row.state != JobState.RUNNING.value
            or row.lease_owner != self.owner
            or row.attempts != self.attempt
        ):
            return "the job was cancelled or taken over"
        if row.campaign_state != CampaignState.RUNNING.value:
            return f"the campaign is {row.campaign_state}"
        view = _SubmissionView(row.submission_state, row.access_expires_at, row.report_due_at)
        return refusal(view, self.now())

    def record_starts(self, samples: list[tuple[str, int]]) -> None:
        """Store the start of each (sample id, epoch) of this attempt, in one transaction."""
        insert = upsert_insert(self.engine.dialect)
        started_at = self.now()
        rows = [
            {
                "job_id": self.job_id,
                "attempt": self.attempt,
                "sample_id": sample_id,
                "epoch": epoch,
                "started_at": started_at,
            }
            for sample_id, epoch in dict.fromkeys(samples)
        ]
        with self._writer.transaction() as conn:
            conn.execute(insert(SampleStartRow).on_conflict_do_nothing(), rows)

    def close(self) -> None:
        self._reader.close()
        self._writer.close()


@dataclass
class _SubmissionView:
    """The three columns `refusal` reads, without loading the ORM object."""

    state: str
    access_expires_at: datetime
    report_due_at: datetime


_current: RunnerJob | None = None

# Inspect providers built on the OpenAI client (which retries on its own unless told not to).
OPENAI_CLIENT_PROVIDERS = frozenset({"openai", "openai-api"})


@hooks(name="predeploy-job", description="predeploy: gate model calls, record sample starts.")
class JobHooks(Hooks):
    """Active only inside a job runner (see the module docstring)."""

    def enabled(self) -> bool:
        return _current is not None

    async def on_task_start(self, data: TaskStart) -> None:
        assert _current is not None
        samples = data.spec.dataset.samples
        epochs = data.spec.config.epochs or 1
        if samples is not None:
            _current.emit({"type": "task_start", "samples": samples * epochs})

    async def on_sample_start(self, data: SampleStart) -> None:
        assert _current is not None
        job = _current
        sample_id, epoch = str(data.summary.id), data.summary.epoch
        await job.sample_started(sample_id, epoch)
        job.emit({"type": "sample_start", "id": sample_id, "epoch": epoch})

    async def on_sample_end(self, data: SampleEnd) -> None:
        assert _current is not None
        sample = data.sample
        _current.emit(
            {
                "type": "sample_end",
                "id": str(sample.id),
                "epoch": sample.epoch,
                "error": sample.error is not None,
            }
        )

    async def on_before_model_generate(self, data: BeforeModelGenerate) -> None:
        assert _current is not None
        job = _current
        why = job.gate_closed or await job.may_call_model()
        if why is None:
            return
        if job.gate_closed is None:
            job.gate_closed = why
            job.emit({"type": "gate_closed", "reason": why})
        # Hooks cannot veto a call (Inspect catches their exceptions), so the call waits here
        # until the worker kills this process.
        await anyio.sleep_forever()

    async def on_sample_attempt_end(self, data: SampleAttemptEnd) -> None:
        # Failures Inspect does not retry per call (a malformed reply) fail the sample attempt,
        # which `retry_on_error` runs again: report them as retried failures too.
        assert _current is not None
        if data.error is not None and data.will_retry:
            _current.emit({"type": "sample_retry", "error": data.error.message})

    async def on_model_retry(self, data: ModelRetry) -> None:
        assert _current is not None
        _current.emit(
            {
                "type": "retry",
                "exception_type": data.exception_type,
                "status_code": data.status_code,
            }
        )


def run(payload: dict[str, Any], events: TextIO) -> bool:
    """Run the job described by `payload`; returns whether `eval_set` finished every task."""
    global _current
    _current = None
    spec: dict[str, Any] = payload["spec"]
    engine = make_engine(payload["database_url"], pool_size=2, max_overflow=2)
    job = _current = RunnerJob(
        job_id=payload["job_id"],
        attempt=payload["attempt"],
        owner=payload["owner"],
        engine=engine,
        clock_offset=timedelta(seconds=payload["clock_offset_seconds"]),
        events=events,
    )
    options: dict[str, Any] = payload["options"]
    elicitation: dict[str, Any] = spec["elicitation"]
    limits: dict[str, Any] = spec["limits"]
    config = GenerateConfig(
        max_connections=options["max_connections"],
        attempt_timeout=int(options["attempt_timeout"]),
        system_message=elicitation.get("system_prompt"),
    )
    model_args: dict[str, Any] = {}
    if spec["model"].split("/", 1)[0] in OPENAI_CLIENT_PROVIDERS:
        # Inspect retries failed calls itself (with backoff, and through the retry hook that
        # classifies them); the OpenAI client's own silent retries would hide them.
        model_args["max_retries"] = 0
    model = get_model(
        spec["model"],
        base_url=spec.get("base_url"),
        api_key=payload.get("api_key"),
        config=config,
        memoize=False,
        **model_args,
    )
    payload.pop("api_key", None)
    _set_price(model, spec.get("price"), cost_limit=limits.get("cost"))
    task_args = dict(spec["task_args"])
    if elicitation.get("attempts", 1) != 1:
        task_args.setdefault("attempts", elicitation["attempts"])
    agent = elicitation.get("agent")
    try:
        success, _ = eval_set(
            tasks=spec["task"],
            task_args=task_args,
            model=model,
            log_dir=payload["log_dir"],
            solver=SolverSpec(agent) if agent else None,
            sandbox=sandbox_of(spec),
            epochs=spec["epochs"],
            message_limit=limits.get("messages"),
            token_limit=limits.get("tokens"),
            time_limit=limits.get("time"),
            cost_limit=limits.get("cost"),
            retry_attempts=options["task_retries"],
            retry_wait=1,
            retry_on_error=options["sample_error_retries"],
            fail_on_error=False,
            log_buffer=options["log_flush_samples"],
            max_samples=options["max_samples"],
            max_tasks=1,
            display="none",
            log_level="warning",
            log_format="eval",
        )
    finally:
        _current = None
        job.close()
        engine.dispose()
    return success


def sandbox_of(spec: dict[str, Any]) -> str | tuple[str, str] | None:
    """The job's sandbox as `eval_set` takes it: the type, with its configuration file if the
    plan item names one (e.g. `("k8s", "values.yaml")`), or None for the task's own."""
    kind, config = spec.get("sandbox"), spec.get("sandbox_config")
    if kind is None:
        return None
    return (str(kind), str(config)) if config else str(kind)


_DATABASE_INFO: dict[str, ModelInfo] = {}
"""What Inspect's model database knew of each model before a plan priced it."""


def _set_price(model: Model, price: dict[str, float] | None, *, cost_limit: float | None) -> None:
    """Price `model` as the plan says, else as Inspect's model database does (if it knows it).

    This process runs one job after another: a previous job's price must not carry over.
    Inspect counts no cost for an unpriced model, so a cost limit on one would never stop a
    sample: that is refused.
    """
    name = str(model)
    if name not in _DATABASE_INFO:
        _DATABASE_INFO[name] = get_model_info(model) or ModelInfo()
    known = _DATABASE_INFO[name]
    cost = ModelCost(**price) if price is not None else known.cost
    if cost is None and cost_limit is not None:
        raise ValueError(
            f"the item has a cost limit but {name} has no price: give one in the plan's prices"
        )
    set_model_info(name, known.model_copy(update={"cost": cost}))


def _die_with_parent() -> None:
    """Ask the kernel to kill this process when the worker that started it dies."""
    import ctypes
    import signal

    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    if os.getppid() == 1:
        os._exit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events-fd", type=int, required=True)
    args = parser.parse_args()
    _die_with_parent()
    # jsonschema (which Inspect uses to check tool-call arguments) imports rfc3987_syntax when it
    # is installed (here: through the SBOM tooling), and that compiles 39 grammars, about 7 s of
    # CPU, for an "iri" format check that nothing here uses. Without it jsonschema skips that check.
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
    # Logs and Inspect's sample buffers hold transcripts and exploits: this user's only.
    os.umask(0o077)
    with os.fdopen(args.events_fd, "w", buffering=1) as events:
        # One job per line, one after the other, for as long as the worker keeps this process:
        # Inspect's start-up (seconds of imports) is paid once, not per job.
        for line in sys.stdin:
            payload = json.loads(line)
            try:
                success = run(payload, events)
            except Exception as exc:  # reported to the worker, which decides on a retry
                task = payload.get("spec", {}).get("task", "?")
                error = f"task {task}: {type(exc).__name__}: {exc}"
                done = {"type": "done", "success": False, "error": error}
            else:
                done = {"type": "done", "success": success}
            finally:
                payload.clear()
            events.write(json.dumps(done) + "\n")
            events.flush()


if __name__ == "__main__":
    main()
