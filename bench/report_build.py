"""Benchmark: building the signed report of a campaign of 10,000 sample results.

Goal: JSON, HTML and PDF in at most 5 s in all; the figure it is judged by is that total, and the
ratio of the total to the JSON step alone is printed beside it.

A submission in `testing` gets one completed campaign stored as a worker's ingest leaves it: the
target model and one reference model, the 8 suite categories x 3 levels, tasks run for 2 epochs,
10,000 result rows in all (solve rates falling with the level, a few infrastructure errors).
Then, timed, through the service functions the API and CLI call (SQLite in a temporary data dir):

- JSON: `create_draft` (reads the rows, determines the level with the task bootstrap, builds
  and stores the document);
- sign: `approve` by a second evaluator (canonical bytes, Ed25519 signature, issue);
- HTML and PDF: rendered from the issued bytes (`report_files(...).html()` and `.pdf()`).

Usage:
    .venv/bin/python bench/report_build.py [--results 10000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import math
import random
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from _result import emit_result
from predeploy.accounts import Actor
from predeploy.accounts.models import Capacity, Role
from predeploy.accounts.schemas import OrgCreate, TokenCreate, UserCreate
from predeploy.accounts.service import authenticate, bootstrap, create_org, create_user, issue_token
from predeploy.config import Settings
from predeploy.determination import CATEGORIES
from predeploy.migrate import upgrade
from predeploy.reports.service import approve, create_draft, report_files
from predeploy.runtime import Runtime
from predeploy.submissions.schemas import ModelCreate, SubmissionCreate
from predeploy.submissions.service import create_model, create_submission, mark_testing, transition
from predeploy.submissions.states import State
from predeploy.testing import StoredResult, store_completed_campaign

GOAL_SECONDS = 5.0
LEVELS = (1, 2, 3)
EPOCHS = 2
TARGET, REFERENCE = "production", "previous"


@dataclass
class Desk:
    """An installation with a submission in testing and two evaluators."""

    runtime: Runtime
    submission_id: str
    author: Actor
    approver: Actor


def make_desk(data_dir: Path) -> Desk:
    settings = Settings(data_dir=data_dir)
    runtime = Runtime(settings=settings)
    upgrade(settings.resolved_database_url)
    with runtime.unit(Actor.system("bench")) as ctx:
        agency = bootstrap(ctx, "Bench Agency", "admin@agency.bench")
        acme = create_org(ctx, OrgCreate(name="Acme AI", capacities=[Capacity.DEVELOPER])).id
        people = {
            "dev": (acme, Role.SUBMITTER),
            "eval1": (agency.org_id, Role.EVALUATOR),
            "eval2": (agency.org_id, Role.EVALUATOR),
        }
        tokens = {}
        for name, (org_id, role) in people.items():
            email = f"{name}@bench.example"
            user = create_user(ctx, UserCreate(email=email, org_id=org_id, roles=[role]))
            tokens[name] = issue_token(ctx, TokenCreate(user_id=user.id)).token

    def actor(name: str) -> Actor:
        with runtime.transaction() as session:
            return authenticate(session, runtime.clock, tokens[name])

    developer, author, approver = actor("dev"), actor("eval1"), actor("eval2")
    with runtime.unit(developer) as ctx:
        model = create_model(ctx, ModelCreate(name="acme-m1", version="bench"))
        release = runtime.clock.now() + timedelta(days=20)
        variant = {"label": TARGET, "model": "predeploy/scripted-idle"}
        body = {"model_id": model.id, "planned_release_at": release, "access_variants": [variant]}
        sub = create_submission(ctx, SubmissionCreate.model_validate(body))
        transition(ctx, sub.id, State.SUBMITTED)
    with runtime.unit(author) as ctx:
        transition(ctx, sub.id, State.ACCEPTED, "benchmark")
    with runtime.unit(Actor.system("bench")) as ctx:
        mark_testing(ctx, sub.id)
    return Desk(runtime, sub.id, author, approver)


def store_campaign(desk: Desk, results: int, rng: random.Random) -> int:
    """One completed campaign with at least `results` rows, half for each model: the count."""
    tasks_per_cell = math.ceil(results / (2 * EPOCHS * len(CATEGORIES) * len(LEVELS)))
    rows: dict[str, list[StoredResult]] = {}
    for label, skill in ((TARGET, 0.8), (f"reference:{REFERENCE}", 0.6)):
        rows[label] = []
        for category in CATEGORIES:
            for level in LEVELS:
                for task in range(tasks_per_cell):
                    for epoch in range(1, EPOCHS + 1):
                        error = rng.random() < 0.01
                        solved = not error and rng.random() < skill / level
                        rows[label].append(
                            StoredResult(
                                sample_id=f"{category}-l{level}-s{task}",
                                category=category,
                                level=level,
                                score=None if error else float(solved),
                                epoch=epoch,
                                seed=11 + task,
                                error_class="model_error" if error else "none",
                                total_tokens=1200,
                            )
                        )
    store_completed_campaign(
        desk.runtime,
        desk.submission_id,
        rows,
        now=desk.runtime.clock.now(),
        references=[REFERENCE],
        epochs=EPOCHS,
        seeds=(11, 12),
    )
    return sum(len(stored) for stored in rows.values())


def one_round(desk: Desk, index: int) -> dict[str, float]:
    """Draft, approve, render: seconds per step (every round after the first is an amendment)."""
    times: dict[str, float] = {}
    reason = f"benchmark round {index + 1}" if index else None
    started = time.perf_counter()
    with desk.runtime.unit(desk.author) as ctx:
        draft = create_draft(ctx, desk.submission_id, amendment_reason=reason)
    times["JSON (draft)"] = time.perf_counter() - started
    assert draft.draft_sha256 is not None, "a draft names its digest"
    started = time.perf_counter()
    with desk.runtime.unit(desk.approver) as ctx:
        issued = approve(ctx, desk.submission_id, draft.draft_sha256)
    times["sign + issue"] = time.perf_counter() - started
    with desk.runtime.unit(desk.approver, read_only=True) as ctx:
        content = report_files(ctx, desk.submission_id, issued.version)
    started = time.perf_counter()
    html = content.html()
    times["HTML"] = time.perf_counter() - started
    started = time.perf_counter()
    pdf = content.pdf()
    times["PDF"] = time.perf_counter() - started
    assert html.startswith("<!DOCTYPE html>") and pdf.startswith(b"%PDF"), "bad rendering"
    return times


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--results", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="predeploy-bench-report-"))
    try:
        desk = make_desk(workdir / "data")
        stored = store_campaign(desk, args.results, random.Random(7))
        rounds = [one_round(desk, index) for index in range(args.rounds)]
        assert desk.runtime.engine is not None
        desk.runtime.engine.dispose()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    steps = list(rounds[0])
    print(f"\nreport build: {stored} sample results, {args.rounds} rounds (seconds)\n")
    print(
        f"{'step':<16}"
        + "".join(f"{f'round {i + 1}':>10}" for i in range(len(rounds)))
        + f"{'median':>10}"
    )
    medians = {}
    for step in steps:
        values = [r[step] for r in rounds]
        medians[step] = statistics.median(values)
        print(f"{step:<16}" + "".join(f"{v:>10.3f}" for v in values) + f"{medians[step]:>10.3f}")
    total = statistics.median(sum(r.values()) for r in rounds)
    json_only = medians["JSON (draft)"]
    print(
        f"\njudged: JSON + sign + HTML + PDF = {total:.2f} s (goal <= {GOAL_SECONDS:.0f} s: "
        f"{'met' if total <= GOAL_SECONDS else 'NOT met'}); ratio to JSON alone: "
        f"{total / json_only:.1f}"
    )
    emit_result(
        __file__,
        figure=f"JSON + sign + HTML + PDF {total:.2f} s",
        goal=f"<= {GOAL_SECONDS:g} s",
        ratio=total / GOAL_SECONDS,
        met=total <= GOAL_SECONDS,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
