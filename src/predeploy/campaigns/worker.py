"""`predeploy worker`: claims jobs, runs each attempt in a runner process, heartbeats, ingests.

A worker holds its job under a lease that it renews every `worker_heartbeat_seconds`; if it dies
(SIGKILL, a lost machine) the lease runs out and another worker claims the job, whose runner's
`eval_set` resumes from what the log holds. Each heartbeat also checks that the job may go on (not
cancelled, the submission not withdrawn, access not expired), stores progress and ingests the
samples flushed so far. On SQLite one worker runs at a time (a lock file in the data dir).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.exc import OperationalError

from ..accounts.actor import Actor
from ..errors import Conflict, PredeployError
from ..runtime import Runtime
from ..submissions.models import AccessKey
from ..submissions.service import get_api_key
from . import _artifacts
from ._queue import Claim, JobProgress, claim_next, end_campaign, finish, heartbeat
from .models import Campaign, Job
from .schemas import CampaignState, JobState, WorkerOutcome

log = logging.getLogger("predeploy.worker")


class WorkerBusy(PredeployError):
    """Another worker already runs on this SQLite database."""

    status_code = 409
    code = "conflict"


CLASSIFIED_RETRIES = frozenset(
    {"rate_limit", "server_error", "timeout", "malformed_response", "connection"}
)
"""The classes `classify_retry` gives; a failure it cannot place is `other`."""


def classify_retry(exception_type: str | None, status_code: int | None) -> str:
    """The class of a model-call failure that Inspect retried (by exception name or message)."""
    name = (exception_type or "").lower().replace(" ", "")
    if status_code == 429 or "ratelimit" in name:
        return "rate_limit"
    if status_code is not None and status_code >= 500:
        return "server_error"
    if "timeout" in name:
        return "timeout"
    if "json" in name or "decode" in name or "validation" in name:
        return "malformed_response"
    if "connect" in name or "protocol" in name or "incomplete" in name:
        return "connection"
    return "other"


# A runner process serves this many jobs, then a fresh one takes over (bounds any leak).
RUNNER_MAX_JOBS = 50


@dataclass
class _Runner:
    """A job runner process (see `_runner`) and the pipes to it."""

    process: subprocess.Popen[bytes]
    events_fd: int
    stderr_tail: deque[str] = field(default_factory=lambda: deque(maxlen=40))
    jobs: int = 0
    _pending: bytes = b""
    closed: bool = False

    @classmethod
    def start(cls, data_dir: Path) -> _Runner:
        inspect_home = data_dir.resolve() / "inspect"
        _artifacts.ensure_private_dir(str(inspect_home))
        env = dict(os.environ)
        # Inspect's sample buffers (in-flight transcripts) stay in the data dir, this user's only.
        env["XDG_DATA_HOME"] = str(inspect_home / "data")
        env["XDG_CACHE_HOME"] = str(inspect_home / "cache")
        read_fd, write_fd = os.pipe()
        process = subprocess.Popen(  # noqa: S603 (this interpreter, our own module)
            [sys.executable, "-m", "predeploy.campaigns._runner", "--events-fd", str(write_fd)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            pass_fds=(write_fd,),
            env=env,
            start_new_session=True,
        )
        os.close(write_fd)
        runner = cls(process=process, events_fd=read_fd)
        threading.Thread(target=runner._drain_stderr, name="runner-stderr", daemon=True).start()
        return runner

    def _drain_stderr(self) -> None:
        assert self.process.stderr is not None
        for raw in self.process.stderr:
            line = raw.decode(errors="replace").rstrip()
            self.stderr_tail.append(line)
            log.debug("runner %s: %s", self.process.pid, line)

    @property
    def usable(self) -> bool:
        return self.process.poll() is None and self.jobs < RUNNER_MAX_JOBS

    def send(self, payload: dict[str, Any]) -> bool:
        """Hand the runner its next job; False if it is gone."""
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(payload).encode() + b"\n")
            self.process.stdin.flush()
        except BrokenPipeError:
            return False
        self.jobs += 1
        return True

    def events(self, timeout: float) -> list[dict[str, Any]] | None:
        """Events that arrived within `timeout` seconds; None once the runner has gone."""
        ready, _, _ = select.select([self.events_fd], [], [], timeout)
        if not ready:
            return []
        chunk = os.read(self.events_fd, 65536)
        if not chunk:
            return None
        lines = (self._pending + chunk).split(b"\n")
        self._pending = lines.pop()
        events = []
        for line in lines:
            with contextlib.suppress(ValueError):
                events.append(json.loads(line))
        return events

    def kill(self) -> None:
        """Kill the runner and everything it started (its own process group)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self._close_fd()

    def close(self) -> None:
        """Let the runner end: it exits when its input ends."""
        assert self.process.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()
            return
        self._close_fd()

    def _close_fd(self) -> None:
        if not self.closed:
            os.close(self.events_fd)
            self.closed = True


@dataclass
class _Attempt:
    """What a worker tracks about the job its runner is running."""

    claim: Claim
    progress: JobProgress = field(default_factory=JobProgress)
    running: set[tuple[str, int]] = field(default_factory=set)
    stop_reason: str | None = None
    done: dict[str, Any] | None = None
    runner_error: str = ""
    ingested: set[tuple[str, int]] | None = None
    next_ingest: float = 0.0

    def handle(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        key = (str(event.get("id")), int(event.get("epoch", 0)))
        if kind == "task_start":
            self.progress.samples_total = int(event["samples"])
        elif kind == "sample_start":
            self.running.add(key)
        elif kind == "sample_end":
            self.running.discard(key)
        elif kind in ("retry", "sample_retry"):
            cls = classify_retry(
                event.get("exception_type") or event.get("error"), event.get("status_code")
            )
            counts = self.progress.retried_failures
            counts[cls] = counts.get(cls, 0) + 1
        elif kind == "gate_closed":
            self.stop_reason = str(event.get("reason", "the gate closed"))
        elif kind == "database_error":
            # Its first line: the driver's reason (the rest quotes the SQL).
            error = str(event.get("error")).strip().splitlines() or [""]
            log.warning(
                "job %s: the runner cannot reach the database (model calls wait): %s",
                self.claim.job_id,
                error[0],
            )
        elif kind == "done":
            self.done = event
        self.progress.samples_running = len(self.running)


@dataclass
class Worker:
    """One worker's loop; `run_once` takes at most one job through to the end of its attempt."""

    runtime: Runtime
    worker_id: str = field(
        default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    )
    stop: threading.Event = field(default_factory=threading.Event)
    _runner: _Runner | None = field(default=None, init=False, repr=False)
    _database_down: bool = field(default=False, init=False, repr=False)

    @property
    def _lease(self) -> timedelta:
        return timedelta(seconds=self.runtime.settings.worker_lease_seconds)

    def _actor(self) -> Actor:
        return Actor.system(f"worker:{self.worker_id}")

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """On SQLite, hold the data dir's worker lock for as long as this worker runs."""
        if not self.runtime.settings.resolved_database_url.startswith("sqlite"):
            yield
            return
        path = self.runtime.settings.data_dir / "worker.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise WorkerBusy(
                    "another worker is already running on this SQLite database (SQLite runs one "
                    "worker at a time; use PostgreSQL for more)"
                ) from None
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def run(self, *, exit_when_idle: bool = False) -> list[WorkerOutcome]:
        """Work until `stop` is set (or, with `exit_when_idle`, until no job is runnable)."""
        outcomes: list[WorkerOutcome] = []
        with self.exclusive():
            try:
                while not self.stop.is_set():
                    try:
                        # Inspect's start-up (seconds of imports) then overlaps the claim, or
                        # the wait for a job, instead of delaying the job.
                        self._ready_runner()
                        outcome = self.run_once()
                    except Exception as exc:
                        # The database is down (or something else broke): the job's lease runs
                        # out and it is claimed again; this worker tries again after a pause.
                        if isinstance(exc, OperationalError):
                            # Heartbeats ride such outages out, so this came before or after a
                            # job: the runner is idle and is kept (no new start-up per retry).
                            self._database_lost(exc)
                        else:
                            log.exception("worker %s: a job attempt failed", self.worker_id)
                            self.close()
                        self.stop.wait(self.runtime.settings.worker_poll_seconds)
                        continue
                    if outcome.outcome == "idle":
                        if exit_when_idle:
                            break
                        self.stop.wait(self.runtime.settings.worker_poll_seconds)
                        continue
                    outcomes.append(outcome)
            finally:
                self.close()
        return outcomes

    def close(self) -> None:
        """End the runner process, if one is up."""
        if self._runner is not None:
            self._runner.close()
            self._runner = None

    def start_thread(self) -> threading.Thread:
        """Run in a background thread (`predeploy serve --with-worker`); set `stop` to end it."""

        def loop() -> None:
            try:
                self.run()
            except Exception:
                log.exception("the in-process worker stopped")

        thread = threading.Thread(target=loop, name="predeploy-worker", daemon=True)
        thread.start()
        return thread

    # --- one job ------------------------------------------------------------------------------

    def run_once(self) -> WorkerOutcome:
        """Claim one job and run one attempt of it (`idle` when nothing is runnable)."""
        with self.runtime.unit(self._actor()) as ctx:
            claimed = claim_next(ctx, self.worker_id, self._lease)
        self._database_back()
        if claimed is None:
            return WorkerOutcome(job_id=None, outcome="idle")
        if isinstance(claimed, str):
            return WorkerOutcome(job_id=None, outcome="refused", message=claimed)
        claim = claimed
        try:
            key = self._api_key(claim)
        except PredeployError as exc:
            self._finish(claim, JobState.FAILED, exc.message, JobProgress())
            return WorkerOutcome(job_id=claim.job_id, outcome="failed", message=exc.message)
        attempt = _Attempt(claim=claim)
        try:
            _artifacts.ensure_private_dir(claim.log_dir)
            _artifacts.check_writable(claim.log_dir)
        except OSError as exc:
            # Ended as a failed attempt (retried after the backoff, counted against the job's
            # attempts) rather than left to its lease, which would retry it without end and
            # without a word on the job of what is wrong.
            attempt.runner_error = _artifacts.store_error(
                self.runtime.settings.resolved_artifact_store, exc
            )
            return self._conclude(attempt)
        runner = self._hand_over(claim, key)
        del key
        if runner is None:
            attempt.runner_error = "the job runner could not be started"
        else:
            self._supervise(attempt, runner)
        return self._conclude(attempt)

    def _api_key(self, claim: Claim) -> str | None:
        if claim.variant_id is not None:
            with self.runtime.unit(self._actor()) as ctx:
                if ctx.session.get(AccessKey, claim.variant_id) is None:
                    return None  # this variant needs no key (e.g. a local or scripted model)
                return get_api_key(ctx, claim.variant_id)
        env = claim.spec.get("api_key_env")
        if env:
            value = os.environ.get(env)
            if not value:
                raise Conflict(
                    f"reference model {claim.model_label}: environment variable {env} is not set "
                    "for this worker"
                )
            return value
        return None

    def _hand_over(self, claim: Claim, key: str | None) -> _Runner | None:
        """Send the job to a runner (starting one if needed); None if no runner would take it."""
        settings = self.runtime.settings
        offset = (self.runtime.clock.now() - datetime.now(UTC)).total_seconds()
        payload = {
            "job_id": claim.job_id,
            "attempt": claim.attempt,
            "owner": self.worker_id,
            "database_url": settings.resolved_database_url,
            "clock_offset_seconds": offset,
            "log_dir": claim.log_dir,
            "spec": claim.spec,
            "api_key": key,
            "options": {
                "max_connections": settings.model_max_connections,
                "max_samples": settings.model_max_connections,
                "attempt_timeout": settings.model_attempt_timeout_seconds,
                "sample_error_retries": settings.sample_error_retries,
                "task_retries": 2,
                "log_flush_samples": settings.log_flush_samples,
            },
        }
        try:
            for _ in range(2):
                runner = self._ready_runner()
                if runner.send(payload):
                    return runner
                runner.kill()
                self._runner = None
            return None
        finally:
            payload.clear()

    def _ready_runner(self) -> _Runner:
        """The runner process for the next job, started (or replaced) if need be."""
        if self._runner is not None and not self._runner.usable:
            self.close()
        if self._runner is None:
            self._runner = _Runner.start(self.runtime.settings.data_dir)
        return self._runner

    def _supervise(self, attempt: _Attempt, runner: _Runner) -> None:
        """Follow the runner's events until the job is done, must stop, or the runner dies."""
        settings = self.runtime.settings
        next_beat = time.monotonic() + settings.worker_heartbeat_seconds
        while attempt.done is None:
            events = runner.events(timeout=0.2)
            if events is None:
                attempt.runner_error = "\n".join(list(runner.stderr_tail)[-5:]) or (
                    f"the job runner exited with status {runner.process.wait()}"
                )
                runner.kill()
                self._runner = None
                return
            for event in events:
                attempt.handle(event)
            if attempt.done is not None:
                return
            if attempt.stop_reason is None and self.stop.is_set():
                attempt.stop_reason = "the worker is stopping"
            if attempt.stop_reason is None and time.monotonic() >= next_beat:
                next_beat = time.monotonic() + settings.worker_heartbeat_seconds
                attempt.stop_reason = self._beat(attempt)
            if attempt.stop_reason is not None:
                runner.kill()
                self._runner = None
                return

    def _beat(self, attempt: _Attempt) -> str | None:
        """Renew the lease (and ingest now and then); why the job must stop, or None.

        While the database cannot be reached the job goes on (its runner's model calls wait at
        the gate meanwhile) and the next beat tries again: a restart of the database costs no
        attempt. If the outage outlasted the lease and another worker took the job, the first
        beat that gets through says so."""
        claim = attempt.claim
        try:
            with self.runtime.unit(self._actor()) as ctx:
                why = heartbeat(ctx, claim, self.worker_id, self._lease, attempt.progress)
        except OperationalError as exc:
            self._database_lost(exc)
            return None
        self._database_back()
        if why is None and time.monotonic() >= attempt.next_ingest:
            self._ingest(attempt, final=False)
        return why

    def _database_lost(self, exc: OperationalError) -> None:
        """Say once (not at every retry) that the database cannot be reached, and why."""
        if not self._database_down:
            reason = str(exc.orig or exc).strip().splitlines() or [type(exc).__name__]
            log.warning(
                "worker %s: the database cannot be reached (%s); trying again",
                self.worker_id,
                reason[0],
            )
        self._database_down = True

    def _database_back(self) -> None:
        if self._database_down:
            log.warning("worker %s: reconnected to the database", self.worker_id)
            self._database_down = False

    def _ingest(self, attempt: _Attempt, *, final: bool) -> str | None:
        """Store the results flushed to the job's logs so far; returns why it failed (a log being
        written, a store that is down), in which case a later heartbeat or the job's end tries
        again. The logs are read with no transaction open; the rows are stored in a short one."""
        # Imported here, not at the top: it imports Inspect (seconds), which would delay the
        # start of the runner process that the first job is waiting for.
        from ._ingest import ingested_keys, read_new_results, store_results

        claim = attempt.claim
        attempt.next_ingest = time.monotonic() + self.runtime.settings.worker_ingest_seconds
        try:
            if attempt.ingested is None:
                with self.runtime.unit(self._actor(), read_only=True) as ctx:
                    attempt.ingested = ingested_keys(ctx, claim)
            known = set(attempt.ingested)
            rows = read_new_results(claim, known, final=final, now=self.runtime.clock.now())
            if rows:
                with self.runtime.unit(self._actor()) as ctx:
                    store_results(ctx, rows)
            attempt.ingested = known
        except Exception as exc:
            log.warning("ingest of job %s failed: %r", claim.job_id, exc)
            return f"ingest failed: {type(exc).__name__}: {exc}"
        return None

    def _conclude(self, attempt: _Attempt) -> WorkerOutcome:
        claim, progress = attempt.claim, attempt.progress
        settings = self.runtime.settings
        if attempt.stop_reason is not None:
            return self._stopped(attempt)
        succeeded = bool(attempt.done and attempt.done.get("success"))
        with self.runtime.unit(self._actor()) as ctx:
            job = ctx.session.get_one(Job, claim.job_id)
            last_attempt = job.attempts >= settings.job_max_attempts
        ingest_error = self._ingest(attempt, final=succeeded or last_attempt)
        if ingest_error is not None:
            # The samples are in the log: another attempt resumes from it and ingests them.
            attempt.runner_error, succeeded = ingest_error, False
        if succeeded:
            self._finish(claim, JobState.SUCCEEDED, "", progress)
            return WorkerOutcome(job_id=claim.job_id, outcome="succeeded")
        error = (
            attempt.runner_error
            or str((attempt.done or {}).get("error") or "")
            or "Inspect did not complete every task of the job"
        )
        if last_attempt:
            self._finish(claim, JobState.FAILED, error, progress)
            return WorkerOutcome(job_id=claim.job_id, outcome="failed", message=error)
        retry_after = timedelta(seconds=settings.job_retry_backoff_seconds)
        self._finish(claim, JobState.FAILED, error, progress, retry_after=retry_after)
        return WorkerOutcome(job_id=claim.job_id, outcome="released", message=error)

    def _stopped(self, attempt: _Attempt) -> WorkerOutcome:
        """The runner was killed: cancelled, withdrawn, expired, taken over or shutting down."""
        claim, reason = attempt.claim, attempt.stop_reason or ""
        self._ingest(attempt, final=False)
        with self.runtime.unit(self._actor()) as ctx:
            job = ctx.session.get_one(Job, claim.job_id, with_for_update=True)
            campaign = ctx.session.get_one(Campaign, claim.campaign_id, with_for_update=True)
            if job.state == JobState.CANCELLED.value or job.lease_owner != self.worker_id:
                return WorkerOutcome(job_id=claim.job_id, outcome="cancelled", message=reason)
            if self.stop.is_set():
                # Shutting down: hand the job back to the queue at once, for any worker.
                finish(
                    ctx, claim, self.worker_id, JobState.FAILED, error=reason,
                    progress=attempt.progress, retry_after=timedelta(0),
                )  # fmt: skip
                return WorkerOutcome(job_id=claim.job_id, outcome="released", message=reason)
            if campaign.state == CampaignState.RUNNING.value:
                end_campaign(ctx, campaign, CampaignState.FAILED, f"refused: {reason}")
        return WorkerOutcome(job_id=claim.job_id, outcome="cancelled", message=reason)

    def _finish(
        self,
        claim: Claim,
        state: JobState,
        error: str,
        progress: JobProgress,
        *,
        retry_after: timedelta | None = None,
    ) -> None:
        with self.runtime.unit(self._actor()) as ctx:
            finish(
                ctx, claim, self.worker_id, state, error=error, progress=progress,
                retry_after=retry_after,
            )  # fmt: skip
