"""Result ingest: one row per sample and epoch, read from a job's Inspect logs.

Only what Inspect has flushed to a log is read; a row, once stored, is final (inserts skip keys
already present, so ingesting twice, or from two logs of one resumed job, stores each sample once).
Logs are read outside any transaction (`read_new_results`); the rows are then stored in a short
one (`store_results`).
While a job runs, errored samples are left for later (Inspect may still run them again); the final
ingest stores them with their error class, and without a score: an infrastructure failure says
nothing about the model.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from inspect_ai.log import (
    EvalSampleSummary,
    list_eval_logs,
    read_eval_log_sample,
    read_eval_log_sample_summaries,
)
from inspect_ai.model import ModelUsage
from inspect_ai.scorer import value_to_float
from sqlalchemy import select

from ..db import new_id, upsert_insert
from ..runtime import Context
from ._queue import Claim
from .models import SampleResult
from .schemas import ErrorClass

ANSWER_MAX_CHARS = 20_000

_SANDBOX_ERROR = re.compile(
    r"SandboxSetupError|SandboxUnavailableError|SandboxEnvironment|sandbox", re.IGNORECASE
)
_SCORER_FRAME = re.compile(r"inspect_ai/scorer/|_grading\.py|in score\b|scorer", re.IGNORECASE)


def classify_error(message: str, traceback: str) -> ErrorClass:
    """Which part of the harness failed: the sandbox, the scorer, or (default) the model call.

    The agent loop's only other moving part is the model endpoint, so an error that is neither a
    sandbox's nor the scorer's is counted as a model error.
    """
    last_line = traceback.strip().splitlines()[-1] if traceback.strip() else ""
    if _SANDBOX_ERROR.search(message) or _SANDBOX_ERROR.search(last_line):
        return ErrorClass.SANDBOX_ERROR
    if _SCORER_FRAME.search(traceback):
        return ErrorClass.SCORER_ERROR
    return ErrorClass.MODEL_ERROR


def _score(
    summary: EvalSampleSummary,
) -> tuple[float | None, Any, str | None, dict[str, Any] | None]:
    if not summary.scores:
        return None, None, None, None
    score = next(iter(summary.scores.values()))
    try:
        numeric: float | None = value_to_float()(score.value)
    except (ValueError, TypeError):
        numeric = None
    answer = score.answer[:ANSWER_MAX_CHARS] if score.answer is not None else None
    return numeric, score.value, answer, score.metadata or None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _cost(usage: list[ModelUsage]) -> float | None:
    """The sample's cost; None if any model it called had no price (a part cost is no cost)."""
    costs = [u.total_cost for u in usage]
    if any(cost is None for cost in costs):
        return None
    return sum(cost for cost in costs if cost is not None)


def _row(
    claim: Claim, log_path: str, summary: EvalSampleSummary, attempt: int, now: Any
) -> dict[str, Any]:
    usage = list(summary.model_usage.values())
    metadata = summary.metadata or {}
    error_class = ErrorClass.NONE
    error_message = ""
    score, score_value, answer, score_metadata = _score(summary)
    if summary.error is not None:
        sample = read_eval_log_sample(log_path, summary.id, summary.epoch)
        traceback = sample.error.traceback if sample.error else ""
        error_class = classify_error(summary.error, traceback)
        error_message = summary.error[:4000]
        score, score_value, score_metadata = None, None, None
    elif summary.limit is not None:
        error_class = ErrorClass.LIMIT_REACHED
        error_message = f"{summary.limit} limit reached"
    return {
        "campaign_id": claim.campaign_id,
        "job_id": claim.job_id,
        "item_index": claim.item_index,
        "task": claim.task,
        "sample_id": str(summary.id),
        "epoch": summary.epoch,
        "model_label": claim.model_label,
        "model": claim.spec["model"],
        "family": metadata.get("family") if isinstance(metadata.get("family"), str) else None,
        "category": metadata.get("category") if isinstance(metadata.get("category"), str) else None,
        "level": _int(metadata.get("level")),
        "seed": _int(metadata.get("seed")),
        "score": score,
        "score_value": score_value,
        "answer": answer,
        "score_metadata": score_metadata,
        "input_tokens": sum(u.input_tokens for u in usage),
        "output_tokens": sum(u.output_tokens for u in usage),
        "total_tokens": sum(u.total_tokens for u in usage),
        "total_cost": _cost(usage),
        "total_time": summary.total_time,
        "working_time": summary.working_time,
        "error_class": error_class.value,
        "error_message": error_message,
        "attempt": attempt,
        "ingested_at": now,
    }


def ingested_keys(ctx: Context, claim: Claim) -> set[tuple[str, int]]:
    """The (sample id, epoch) of `claim`'s item and model already stored."""
    return {
        (sample_id, epoch)
        for sample_id, epoch in ctx.session.execute(
            select(SampleResult.sample_id, SampleResult.epoch).where(
                SampleResult.campaign_id == claim.campaign_id,
                SampleResult.item_index == claim.item_index,
                SampleResult.model_label == claim.model_label,
            )
        )
    }


def read_new_results(
    claim: Claim, known: set[tuple[str, int]], *, final: bool, now: datetime
) -> list[dict[str, Any]]:
    """The result rows in `claim`'s logs whose keys are not in `known` (which this adds them to).

    Reads files only: the caller holds no transaction meanwhile (on SQLite a write transaction
    would hold the lock that the runner's sample starts wait for).
    """
    try:
        logs = list_eval_logs(claim.log_dir, recursive=False)
    except FileNotFoundError:
        return []
    rows: list[dict[str, Any]] = []
    # Oldest first: a resumed job's new log repeats the samples it reused from the old one.
    for info in sorted(logs, key=lambda i: i.mtime or 0):
        for summary in read_eval_log_sample_summaries(info):
            key = (str(summary.id), summary.epoch)
            if key in known or (not summary.completed and summary.error is None):
                continue
            if summary.error is not None and not final:
                continue
            rows.append(_row(claim, info.name, summary, claim.attempt, now))
            known.add(key)
    return rows


def store_results(ctx: Context, rows: list[dict[str, Any]]) -> int:
    """Insert `rows`, skipping any key stored meanwhile; returns how many were given."""
    insert = upsert_insert(ctx.session.get_bind().dialect)
    for row in rows:
        ctx.session.execute(
            insert(SampleResult).values(id=new_id(), **row).on_conflict_do_nothing()
        )
    return len(rows)
