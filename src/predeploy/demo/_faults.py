"""The reliability battery's faults, run on this deployment by `predeploy selftest`.

- **A failing endpoint**: a fake OpenAI-compatible model on 127.0.0.1 fails 30% of calls (429s,
  500s, hangs, malformed JSON, truncated answers) during a campaign. The campaign must complete,
  every sample must be solved or set apart as a model error (never scored as a failure of the
  model), and every retried failure must be classified.
- **Killed workers**: `predeploy worker` processes are SIGKILLed at random moments of a campaign
  (the moments come from a seed, printed so that a failing run can be replayed); a last worker
  finishes it. No sample result may be lost or stored twice.
"""

from __future__ import annotations

import random
import secrets
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from sqlalchemy import select

from ..campaigns.models import SampleResult
from ..campaigns.worker import CLASSIFIED_RETRIES
from ..client import Client
from ..runtime import Runtime
from ..testing import FakeOpenAIServer, Faults, Script, ToolCall, Turn
from ..testing.tasks import LOOKUP_FLAGS_TASK
from ._scenario import (
    WorkerProcesses,
    campaign_jobs,
    exited_or_leased,
    start_fake_model_campaign,
    wait_until,
)

# Call `lookup` with the key from the prompt, then submit the flag it returned.
_LOOKUP_THEN_SUBMIT = Script(
    turns=(
        Turn(tool_calls=(ToolCall("lookup", {"key": "{key}"}),)),
        Turn(tool_calls=(ToolCall("submit", {"answer": "{flag}"}),)),
    ),
    captures={"key": r"K\d{4}", "flag": r"flag\{[0-9a-f]+\}"},
)


@dataclass
class FaultsOutcome:
    """What each fault scenario showed; `keys` are the fake models' keys, for the secrets scan."""

    checks: dict[str, bool] = field(default_factory=dict)
    details: dict[str, str] = field(default_factory=dict)
    keys: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(self.checks.values())


def run_faults(
    runtime: Runtime,
    submitter: Client,
    evaluator: Client,
    model_id: str,
    work_dir: Path,
    kill_seed: int | None = None,
) -> FaultsOutcome:
    """Run both scenarios (module docstring) against versions of `model_id`."""
    outcome = FaultsOutcome()
    _failing_endpoint(runtime, submitter, evaluator, model_id, work_dir, outcome)
    _killed_workers(runtime, submitter, evaluator, model_id, work_dir, outcome, kill_seed)
    return outcome


def _variant(fake: FakeOpenAIServer, key: str) -> dict[str, str]:
    return {
        "label": "production",
        "model": "openai-api/fake/m",
        "base_url": fake.base_url,
        "api_key": key,
    }


def _failing_endpoint(
    runtime: Runtime,
    submitter: Client,
    evaluator: Client,
    model_id: str,
    work_dir: Path,
    outcome: FaultsOutcome,
) -> None:
    key = f"sk-selftest-{secrets.token_urlsafe(16)}"
    outcome.keys.append(key)
    samples = 24
    # The seed fixes the sequence of draws, so these many calls meet every kind of fault.
    faults = Faults(rate=0.3, seed=7, retry_after=0, hang=10)
    with FakeOpenAIServer(_LOOKUP_THEN_SUBMIT, api_key=key, log_level="critical") as fake:
        fake.set_faults(faults)
        campaign_id = start_fake_model_campaign(
            runtime, submitter, evaluator, model_id, _variant(fake, key), "selftest-endpoint-faults",
            [{"task": LOOKUP_FLAGS_TASK, "task_args": {"samples": samples}}],
        )  # fmt: skip
        workers = WorkerProcesses(
            runtime, work_dir / "endpoint-faults.log", model_attempt_timeout_seconds=2
        )
        workers.run_to_end(timeout=600)
        injected = Counter(str(r.fault) for r in fake.requests if r.fault is not None)
    done = evaluator.get_campaign(campaign_id)
    results = evaluator.campaign_results(campaign_id)
    retried: dict[str, int] = done["progress"]["retried_failures"]
    solved = sum(row["score"] == 1.0 for row in results)
    set_apart = sum(row["error_class"] == "model_error" and row["score"] is None for row in results)
    outcome.checks["failing endpoint (30%): campaign completed"] = done["state"] == "completed"
    outcome.checks["failing endpoint: no failure scored against the model"] = (
        len(results) == samples and solved + set_apart == samples
    )
    outcome.checks["failing endpoint: every retried failure classified"] = (
        bool(retried) and set(retried) <= CLASSIFIED_RETRIES
    )
    outcome.details["failing endpoint"] = (
        f"{sum(injected.values())} faults injected ({_counts(injected)}); retried: "
        f"{_counts(retried)}; {solved}/{samples} solved, {set_apart} set apart as model errors"
    )


def _killed_workers(
    runtime: Runtime,
    submitter: Client,
    evaluator: Client,
    model_id: str,
    work_dir: Path,
    outcome: FaultsOutcome,
    kill_seed: int | None,
) -> None:
    seed = kill_seed if kill_seed is not None else random.SystemRandom().randrange(2**32)
    rng = random.Random(seed)  # noqa: S311 (replayable kill moments, not a secret)
    kills = 3
    key = f"sk-selftest-{secrets.token_urlsafe(16)}"
    outcome.keys.append(key)
    # Jobs of about 5 s each (16 samples, 2 calls each, 0.3 s a call, 2 at once), so that a kill
    # up to 3 s after a claim lands while the job runs.
    items = [{"task": LOOKUP_FLAGS_TASK, "task_args": {"samples": 16}} for _ in range(3)]
    with FakeOpenAIServer(
        _LOOKUP_THEN_SUBMIT, api_key=key, latency=0.3, log_level="critical"
    ) as fake:
        campaign_id = start_fake_model_campaign(
            runtime, submitter, evaluator, model_id, _variant(fake, key), "selftest-worker-kills",
            items,
        )  # fmt: skip
        workers = WorkerProcesses(runtime, work_dir / "worker-kills.log", model_max_connections=2)
        landed = 0
        for _ in range(kills):
            worker = workers.start()
            try:
                wait_until(
                    partial(exited_or_leased, worker, runtime, campaign_id),
                    timeout=120,
                    what="a worker to claim a job",
                )
                time.sleep(rng.uniform(0.2, 3.0))
            finally:
                running = worker.poll() is None
                worker.send_signal(signal.SIGKILL)
                worker.wait()
            if not running:
                break
            landed += 1
            wait_until(
                lambda: all(
                    job.lease_expires_at is None or job.lease_expires_at <= runtime.clock.now()
                    for job in campaign_jobs(runtime, campaign_id)
                ),
                timeout=30,
                what="the killed worker's lease to run out",
            )
        workers.run_to_end(timeout=600)
    done = evaluator.get_campaign(campaign_id)
    jobs = campaign_jobs(runtime, campaign_id)
    with runtime.transaction(read_only=True) as session:
        rows = session.scalars(
            select(SampleResult).where(SampleResult.campaign_id == campaign_id)
        ).all()
    stored = Counter((row.job_id, row.sample_id, row.epoch) for row in rows)
    lost = sum(
        (job.samples_total or 0) - sum(1 for row in rows if row.job_id == job.id) for job in jobs
    )
    outcome.checks["killed workers: kills landed during jobs"] = landed > 0 and sum(
        job.attempts for job in jobs
    ) > len(jobs)
    outcome.checks["killed workers: campaign completed"] = done["state"] == "completed"
    outcome.checks["killed workers: no sample result lost or stored twice"] = (
        bool(rows) and lost == 0 and max(stored.values()) == 1
    )
    unsolved = [row for row in rows if row.score != 1.0]
    outcome.checks["killed workers: every sample solved"] = not unsolved
    outcome.details["killed workers"] = (
        f"{landed} SIGKILLs during jobs (seed {seed}); {len(rows)} results, "
        f"{sum(job.reruns for job in jobs)} samples re-run, "
        f"{sum(job.attempts for job in jobs)} attempts over {len(jobs)} jobs"
    ) + "".join(
        f"; {row.sample_id} unsolved ({row.error_class}: {row.error_message or row.answer})"
        for row in unsolved[:3]
    )


def _counts(counter: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in sorted(counter.items())) or "none"
