"""From per-sample results to statistics and a capability determination against a scale.

The unit of resampling, of pass@k and of every judged rate (criteria, comparisons) is the *task*:
one challenge instance, i.e. one (run, task, sample_id, category, level) of one model, attempted
once per epoch. Per-row work is a few list comprehensions; everything else runs on numpy arrays of
per-task counts.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from ..errors import InvalidInput
from ._scale import CATEGORIES, CapabilityScale, Criterion, Level
from ._stats import (
    FloatArray,
    bootstrap_interval,
    difference_interval,
    pass_at_k_array,
    wilson_interval,
)

CriterionOutcome = Literal["met", "cannot_be_ruled_out", "not_met"]

# Codes in this order: scored outcomes (none, limit) first, so `code <= _LIMIT` means scored.
_NONE, _LIMIT, _MODEL, _SANDBOX, _SCORER = range(5)
_ERROR_CODES: dict[str, int] = {
    "none": _NONE,
    "limit_reached": _LIMIT,
    "model_error": _MODEL,
    "sandbox_error": _SANDBOX,
    "scorer_error": _SCORER,
}

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
_Key = TypeVar("_Key", bound=Hashable)
_TaskKey = tuple[str, str, str, str, int]


@dataclass(frozen=True, slots=True)
class Outcome:
    """One sample and epoch of one model: the part of a stored result a determination reads.

    `score` 1.0 is a solve (anything below, e.g. code review's 0.5 for the right place with the
    wrong CWE, is not); None means no score. `category` or `level` None (e.g. an imported
    benchmark without levels) makes the outcome *unclassified*: counted, but in no statistic.
    `cost` is in US dollars; None means the model was not priced. `run` names the run of the task
    the outcome belongs to (the campaign and plan item: one plan may run a task twice with other
    arguments); "" when there is only one. Outcomes of different runs are different tasks, and the
    target's and a reference model's outcomes of one run are the same task (for comparisons).
    """

    task: str
    sample_id: str
    epoch: int
    model_label: str
    category: str | None
    level: int | None
    score: float | None
    error_class: str
    total_tokens: int = 0
    cost: float | None = None
    run: str = ""


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeterminationSettings(_Out):
    """How a determination is computed; recorded in its output."""

    confidence: float = Field(default=0.95, gt=0.0, lt=1.0)
    max_error_share: float = Field(default=0.1, ge=0.0, le=1.0)
    """Above this share of infrastructure errors among the target's samples: inconclusive."""
    bootstrap_resamples: int = Field(default=2000, ge=100, le=100_000)
    bootstrap_seed: int = Field(default=0, ge=0)


class Interval(_Out):
    """A two-sided confidence interval."""

    low: float
    high: float


class InfraErrors(_Out):
    """Samples lost to the harness, by class; excluded from every rate."""

    model_error: int = 0
    sandbox_error: int = 0
    scorer_error: int = 0

    @property
    def total(self) -> int:
        """All infrastructure errors."""
        return self.model_error + self.sandbox_error + self.scorer_error


class PassAtK(_Out):
    """Unbiased pass@k averaged over the tasks with at least k scored attempts."""

    k: int
    value: float
    tasks: int


class CellStats(_Out):
    """One model on one category at one suite level."""

    model_label: str
    category: str
    level: int
    tasks: int
    epochs: int
    samples: int
    scored: int
    successes: int
    limit_reached: int
    infra_errors: InfraErrors
    solve_rate: float | None
    interval: Interval
    """Wilson interval of the solve rate over scored attempts; [0, 1] when none was scored."""
    pass_at_k: list[PassAtK]
    tokens_per_success: float | None
    """Tokens of all scored attempts divided by successes; None without a success."""
    cost_per_success: float | None = None
    """US dollars of all scored attempts divided by successes; None without a success, or when
    a scored attempt has no cost (its model was not priced)."""


class RateSummary(_Out):
    """A model's pooled solve rate over all categories, at one suite level or overall (None)."""

    level: int | None
    tasks: int
    scored: int
    successes: int
    solve_rate: float | None
    wilson: Interval
    """Wilson interval over scored attempts: for display, too narrow when epochs correlate."""
    bootstrap: Interval | None
    """Percentile bootstrap over tasks; None without a scored task."""


class ModelSummary(_Out):
    """Everything one model label contributed, with its aggregates."""

    model_label: str
    samples: int
    unclassified: int
    scored: int
    successes: int
    limit_reached: int
    infra_errors: InfraErrors
    error_share: float
    """Infrastructure errors over classified samples (0 without any)."""
    # Defaults keep documents made before costs were recorded valid (schema report/1).
    tokens: int = 0
    """Tokens of the scored attempts (infrastructure errors excluded)."""
    cost: float | None = None
    """US dollars of the scored attempts; None when one of them has no cost."""
    tokens_per_success: float | None = None
    cost_per_success: float | None = None
    overall: RateSummary
    levels: list[RateSummary]


class Comparison(_Out):
    """Target minus reference solve rate per task, on the tasks both have scored attempts on.

    `category` and `level` None: over every such task. The difference is of the two mean per-task
    solve rates, (target_task_successes - reference_task_successes) / tasks, and its interval
    counts tasks, not attempts, as trials. `difference` and `interval` are None when the two share
    no scored task. The `*_scored` and `*_successes` counts are of attempts, for display.
    """

    target: str
    reference: str
    category: str | None
    level: int | None
    tasks: int
    target_scored: int
    target_successes: int
    reference_scored: int
    reference_successes: int
    difference: float | None
    interval: Interval | None
    """Newcombe's hybrid score interval, with n = `tasks` on each side."""
    # None only in documents made before comparisons were per task (schema report/1).
    target_task_successes: float | None = None
    """Sum over the common tasks of the target's solve rate on each."""
    reference_task_successes: float | None = None
    """Sum over the common tasks of the reference's solve rate on each."""


class Evidence(_Out):
    """One rate a criterion compares with its threshold: a solve rate per task.

    Tasks are the independent units: the epochs of one task are correlated, so counting each
    attempt as a trial would narrow the interval and could rule a level out wrongly. The rate is
    the mean, over the tasks with a scored attempt, of each task's solve rate (its pass@1
    estimate); the interval is Wilson's with n = `tasks` and `task_successes` successes.
    """

    categories: list[str]
    scored: int
    """Scored attempts: for display only, not the interval's trials."""
    successes: int
    """Solved attempts: for display only."""
    solve_rate: float | None
    """Mean per-task solve rate, task_successes / tasks; None without a scored task."""
    interval: Interval
    """Wilson interval over tasks; [0, 1] without a scored task."""
    outcome: CriterionOutcome
    # None only in documents made before criteria were judged per task (schema report/1), whose
    # rate and interval were over attempts.
    tasks: int | None = None
    """Tasks with at least one scored attempt: the interval's trials."""
    task_successes: float | None = None
    """Sum over those tasks of each task's solve rate: the interval's (fractional) successes."""


class CriterionResult(_Out):
    """A criterion of the scale, evaluated on the target model."""

    level_id: str
    criterion_id: str
    description: str
    level: int
    threshold: float
    aggregate: Literal["each", "pooled"]
    required: int
    met: int
    """Rates whose interval's lower bound reaches the threshold."""
    not_ruled_out: int
    """Rates whose interval's upper bound reaches the threshold."""
    evidence: list[Evidence]
    outcome: CriterionOutcome


class LevelResult(_Out):
    """A level of the scale: its criteria combined as it requires (all or any)."""

    level_id: str
    title: str
    require: Literal["all", "any"]
    outcome: CriterionOutcome


class Verdict(_Out):
    """The determination for the target model."""

    model_label: str
    status: Literal["determined", "inconclusive"]
    reason: str
    level: str | None
    """The highest level that is met; None when inconclusive."""
    highest_level_not_ruled_out: str | None
    """The highest level that is met or cannot be ruled out; None when inconclusive."""
    samples: int
    scored: int
    infra_errors: int
    error_share: float
    criteria: list[CriterionResult]
    levels: list[LevelResult]


class CapabilityDetermination(_Out):
    """Statistics and determination of one campaign's results: goes into the signed report."""

    scale_id: str
    scale_version: int
    scale_digest: str
    settings: DeterminationSettings
    target: str
    references: list[str]
    cells: list[CellStats]
    models: list[ModelSummary]
    comparisons: list[Comparison]
    verdict: Verdict


def _intern(keys: Sequence[_Key]) -> tuple[IntArray, list[_Key]]:
    """Dense codes in first-seen order, and the distinct keys."""
    index: dict[_Key, int] = {}
    codes = np.fromiter((index.setdefault(key, len(index)) for key in keys), np.int64, len(keys))
    return codes, list(index)


@dataclass(frozen=True)
class _Tasks:
    """Per (model, task) counts over the classified outcomes; one entry per task of a model."""

    label: IntArray
    category: list[str]
    level: IntArray
    key: IntArray
    """The task's code, shared by all models (for comparisons)."""
    attempts: IntArray
    scored: IntArray
    successes: IntArray
    limit: IntArray
    model_error: IntArray
    sandbox_error: IntArray
    scorer_error: IntArray
    tokens: IntArray
    cost: FloatArray
    """US dollars of the priced scored attempts."""
    unpriced: IntArray
    """Scored attempts without a cost."""
    epochs: IntArray
    """Distinct epoch numbers among the task's outcomes."""

    @property
    def solve_rate(self) -> FloatArray:
        """Each task's successes over its scored attempts (its pass@1 estimate); 0 unscored."""
        rate: FloatArray = np.divide(
            self.successes,
            self.scored,
            out=np.zeros(len(self.scored), np.float64),
            where=self.scored > 0,
        )
        return rate


def _validated_rows(outcomes: Sequence[Outcome]) -> tuple[IntArray, FloatArray, FloatArray]:
    """Error codes, scores and costs (NaN for None), or InvalidInput naming the first bad one."""
    codes = np.fromiter(
        (_ERROR_CODES.get(o.error_class, -1) for o in outcomes), np.int64, len(outcomes)
    )
    bad = np.flatnonzero(codes < 0)
    if bad.size:
        first = int(bad[0])
        raise InvalidInput(
            f"outcomes.{first}.error_class: {outcomes[first].error_class!r} is not one of "
            f"{', '.join(_ERROR_CODES)}",
            field=f"outcomes.{first}.error_class",
        )
    scores = np.fromiter(
        (np.nan if o.score is None else o.score for o in outcomes), np.float64, len(outcomes)
    )
    bad = np.flatnonzero(~np.isnan(scores) & ~((scores >= 0.0) & (scores <= 1.0)))
    if bad.size:
        first = int(bad[0])
        raise InvalidInput(
            f"outcomes.{first}.score: must be between 0 and 1 or None; got {outcomes[first].score}",
            field=f"outcomes.{first}.score",
        )
    costs = np.fromiter(
        (np.inf if o.cost is None else o.cost for o in outcomes), np.float64, len(outcomes)
    )
    given = np.fromiter((o.cost is not None for o in outcomes), np.bool_, len(outcomes))
    bad = np.flatnonzero(given & ~(np.isfinite(costs) & (costs >= 0.0)))
    if bad.size:
        first = int(bad[0])
        raise InvalidInput(
            f"outcomes.{first}.cost: must be a finite amount >= 0 or None; "
            f"got {outcomes[first].cost}",
            field=f"outcomes.{first}.cost",
        )
    return codes, scores, np.where(given, costs, np.nan)


def _per_task(
    outcomes: Sequence[Outcome], label_code: dict[str, int]
) -> tuple[_Tasks, IntArray, IntArray]:
    """Task counts, plus per-label totals of all samples and of unclassified ones."""
    codes, scores, costs = _validated_rows(outcomes)
    labels = np.fromiter((label_code[o.model_label] for o in outcomes), np.int64, len(outcomes))
    classified = np.fromiter(
        (o.category is not None and o.level is not None for o in outcomes), np.bool_, len(outcomes)
    )
    samples_by_label = np.bincount(labels, minlength=len(label_code))
    unclassified_by_label = np.bincount(labels[~classified], minlength=len(label_code))
    rows = np.flatnonzero(classified)
    kept = [outcomes[i] for i in rows.tolist()]
    task_codes, task_keys = _intern(
        [(o.run, o.task, o.sample_id, str(o.category), int(o.level or 0)) for o in kept]
    )
    labels, codes, scores, costs = labels[rows], codes[rows], scores[rows], costs[rows]
    # A finished sample without a score is the scorer's failure, not the model's; a limit hit
    # before scoring is a real (failed) outcome.
    missing = np.isnan(scores)
    codes = np.where((codes == _NONE) & missing, _SCORER, codes)
    scored = codes <= _LIMIT
    success = scored & ~missing & (np.nan_to_num(scores) >= 1.0)
    stride = max(len(task_keys), 1)
    distinct, group = np.unique(labels * stride + task_codes, return_inverse=True)
    size = len(distinct)

    def total(weights: npt.ArrayLike) -> IntArray:
        counted: IntArray = np.bincount(group, weights=weights, minlength=size).astype(np.int64)
        return counted

    # Epochs are counted, not read off the highest epoch number: numbering need not start at 1
    # or be contiguous.
    epoch_numbers = np.fromiter((o.epoch for o in kept), np.int64, len(kept))
    task_epochs = np.unique(np.column_stack((group, epoch_numbers)), axis=0)
    epochs = np.bincount(task_epochs[:, 0], minlength=size).astype(np.int64)
    tokens = np.fromiter((o.total_tokens for o in kept), np.int64, len(kept))
    priced = ~np.isnan(costs)
    task_of_group = distinct % stride
    keys: list[_TaskKey] = [task_keys[t] for t in task_of_group.tolist()]
    tasks = _Tasks(
        label=distinct // stride,
        category=[key[3] for key in keys],
        level=np.fromiter((key[4] for key in keys), np.int64, size),
        key=task_of_group,
        attempts=np.bincount(group, minlength=size).astype(np.int64),
        scored=total(scored),
        successes=total(success),
        limit=total(codes == _LIMIT),
        model_error=total(codes == _MODEL),
        sandbox_error=total(codes == _SANDBOX),
        scorer_error=total(codes == _SCORER),
        tokens=total(np.where(scored, tokens, 0)),
        cost=np.bincount(
            group, weights=np.where(scored & priced, costs, 0.0), minlength=size
        ).astype(np.float64),
        unpriced=total(scored & ~priced),
        epochs=epochs,
    )
    return tasks, samples_by_label, unclassified_by_label


def _per_success(amount: float, successes: int) -> float | None:
    return amount / successes if successes else None


def _cost(cost: float, unpriced: int) -> float | None:
    """A total cost, which is unknown when any attempt in it had no price."""
    return None if unpriced else cost


def _cost_per_success(cost: float | None, successes: int) -> float | None:
    return None if cost is None else _per_success(cost, successes)


def _interval(low_high: tuple[float, float]) -> Interval:
    return Interval(low=low_high[0], high=low_high[1])


def _rate(successes: float, trials: int) -> float | None:
    return successes / trials if trials else None


def _pooled_rate(totals: FloatArray) -> FloatArray:
    rate: FloatArray = totals[:, 0] / totals[:, 1]
    return rate


def _category_order(category: str) -> tuple[int, str]:
    return (
        (CATEGORIES.index(category), "") if category in CATEGORIES else (len(CATEGORIES), category)
    )


def _cells(tasks: _Tasks, labels: list[str], settings: DeterminationSettings) -> list[CellStats]:
    cell_keys = list(zip(tasks.label.tolist(), tasks.category, tasks.level.tolist(), strict=True))
    cell_of_task, distinct = _intern(cell_keys)
    size = len(distinct)

    def total(values: IntArray) -> list[int]:
        counted: list[int] = (
            np.bincount(cell_of_task, weights=values, minlength=size).astype(np.int64).tolist()
        )
        return counted

    samples, scored, successes = total(tasks.attempts), total(tasks.scored), total(tasks.successes)
    limit, tokens, unpriced = total(tasks.limit), total(tasks.tokens), total(tasks.unpriced)
    cost = np.bincount(cell_of_task, weights=tasks.cost, minlength=size).tolist()
    model_error, sandbox_error = total(tasks.model_error), total(tasks.sandbox_error)
    scorer_error = total(tasks.scorer_error)
    task_count = np.bincount(cell_of_task, minlength=size).tolist()
    epochs = np.zeros(size, np.int64)
    np.maximum.at(epochs, cell_of_task, tasks.epochs)
    pass_values: list[list[PassAtK]] = [[] for _ in range(size)]
    for k in range(1, int(epochs.max(initial=0)) + 1):
        eligible = tasks.scored >= k
        # Tasks with fewer than k scored attempts have no pass@k; n is raised to k for them only
        # to keep the vectorised formula defined, and their value is dropped.
        estimates = pass_at_k_array(np.maximum(tasks.scored, k), tasks.successes, k)
        values = np.where(eligible, estimates, 0.0)
        sums = np.bincount(cell_of_task, weights=values, minlength=size)
        counts = np.bincount(cell_of_task, weights=eligible, minlength=size).astype(np.int64)
        for cell in range(size):
            if epochs[cell] > 1 and k <= epochs[cell] and counts[cell]:
                pass_values[cell].append(
                    PassAtK(k=k, value=float(sums[cell] / counts[cell]), tasks=int(counts[cell]))
                )
    cells = []
    for cell, (label, category, level) in enumerate(distinct):
        cells.append(
            CellStats(
                model_label=labels[label],
                category=category,
                level=level,
                tasks=task_count[cell],
                epochs=int(epochs[cell]),
                samples=samples[cell],
                scored=scored[cell],
                successes=successes[cell],
                limit_reached=limit[cell],
                infra_errors=InfraErrors(
                    model_error=model_error[cell],
                    sandbox_error=sandbox_error[cell],
                    scorer_error=scorer_error[cell],
                ),
                solve_rate=_rate(successes[cell], scored[cell]),
                interval=_interval(
                    wilson_interval(successes[cell], scored[cell], settings.confidence)
                ),
                pass_at_k=pass_values[cell],
                tokens_per_success=_per_success(tokens[cell], successes[cell]),
                cost_per_success=_cost_per_success(
                    _cost(cost[cell], unpriced[cell]), successes[cell]
                ),
            )
        )
    cells.sort(key=lambda c: (labels.index(c.model_label), _category_order(c.category), c.level))
    return cells


def _rate_summary(
    tasks: _Tasks, mask: BoolArray, level: int | None, settings: DeterminationSettings
) -> RateSummary:
    scored_tasks = mask & (tasks.scored > 0)
    scored = int(tasks.scored[mask].sum())
    successes = int(tasks.successes[mask].sum())
    bootstrap = None
    if scored_tasks.any():
        groups = np.column_stack((tasks.successes[scored_tasks], tasks.scored[scored_tasks]))
        bootstrap = _interval(
            bootstrap_interval(
                groups,
                _pooled_rate,
                resamples=settings.bootstrap_resamples,
                seed=settings.bootstrap_seed,
                confidence=settings.confidence,
            )
        )
    return RateSummary(
        level=level,
        tasks=int(mask.sum()),
        scored=scored,
        successes=successes,
        solve_rate=_rate(successes, scored),
        wilson=_interval(wilson_interval(successes, scored, settings.confidence)),
        bootstrap=bootstrap,
    )


def _models(
    tasks: _Tasks,
    labels: list[str],
    samples: IntArray,
    unclassified: IntArray,
    settings: DeterminationSettings,
) -> list[ModelSummary]:
    summaries = []
    for code, label in enumerate(labels):
        mine = tasks.label == code
        infra = InfraErrors(
            model_error=int(tasks.model_error[mine].sum()),
            sandbox_error=int(tasks.sandbox_error[mine].sum()),
            scorer_error=int(tasks.scorer_error[mine].sum()),
        )
        classified = int(tasks.attempts[mine].sum())
        levels = sorted(set(tasks.level[mine].tolist()))
        successes = int(tasks.successes[mine].sum())
        tokens = int(tasks.tokens[mine].sum())
        cost = _cost(float(tasks.cost[mine].sum()), int(tasks.unpriced[mine].sum()))
        summaries.append(
            ModelSummary(
                model_label=label,
                samples=int(samples[code]),
                unclassified=int(unclassified[code]),
                scored=int(tasks.scored[mine].sum()),
                successes=successes,
                limit_reached=int(tasks.limit[mine].sum()),
                infra_errors=infra,
                error_share=infra.total / classified if classified else 0.0,
                tokens=tokens,
                cost=cost,
                tokens_per_success=_per_success(tokens, successes),
                cost_per_success=_cost_per_success(cost, successes),
                overall=_rate_summary(tasks, mine, None, settings),
                levels=[
                    _rate_summary(tasks, mine & (tasks.level == level), level, settings)
                    for level in levels
                ],
            )
        )
    return summaries


def _exact_sums(group: IntArray, values: FloatArray, size: int) -> list[float]:
    """Per-group sums of `values`, exactly rounded (math.fsum): unlike a running sum, they do
    not depend on the order of the tasks, so the output does not depend on the input's order."""
    order = np.argsort(group, kind="stable")
    bounds: list[int] = np.searchsorted(group[order], np.arange(size + 1)).tolist()
    ordered: list[float] = values[order].tolist()
    return [math.fsum(ordered[bounds[g] : bounds[g + 1]]) for g in range(size)]


@dataclass(frozen=True)
class _Paired:
    """The target's and a reference's counts over the tasks both have scored attempts on."""

    tasks: int
    target_scored: int
    target_successes: int
    target_task_successes: float
    reference_scored: int
    reference_successes: int
    reference_task_successes: float


def _comparison(
    target: str,
    reference: str,
    where: tuple[str | None, int | None],
    counts: _Paired,
    confidence: float,
) -> Comparison:
    difference = interval = None
    if counts.tasks:
        d = difference_interval(
            counts.target_task_successes,
            counts.tasks,
            counts.reference_task_successes,
            counts.tasks,
            confidence,
        )
        difference, interval = d.estimate, Interval(low=d.low, high=d.high)
    return Comparison(
        target=target,
        reference=reference,
        category=where[0],
        level=where[1],
        tasks=counts.tasks,
        target_scored=counts.target_scored,
        target_successes=counts.target_successes,
        reference_scored=counts.reference_scored,
        reference_successes=counts.reference_successes,
        difference=difference,
        interval=interval,
        target_task_successes=counts.target_task_successes,
        reference_task_successes=counts.reference_task_successes,
    )


def _comparisons(
    tasks: _Tasks, labels: list[str], target: str, references: list[str], confidence: float
) -> list[Comparison]:
    task_count = int(tasks.key.max(initial=-1)) + 1
    place_of_task = np.zeros(task_count, np.int64)
    place_codes, places = _intern(list(zip(tasks.category, tasks.level.tolist(), strict=True)))
    place_of_task[tasks.key] = place_codes
    order = sorted(range(len(places)), key=lambda p: (_category_order(places[p][0]), places[p][1]))
    rates = tasks.solve_rate

    def by_task(code: int) -> tuple[BoolArray, IntArray, IntArray, FloatArray]:
        mine = tasks.label == code
        present = np.zeros(task_count, np.bool_)
        scored = np.zeros(task_count, np.int64)
        successes = np.zeros(task_count, np.int64)
        rate = np.zeros(task_count, np.float64)
        present[tasks.key[mine]] = True
        scored[tasks.key[mine]] = tasks.scored[mine]
        successes[tasks.key[mine]] = tasks.successes[mine]
        rate[tasks.key[mine]] = rates[mine]
        return present, scored, successes, rate

    t_present, t_scored, t_successes, t_rate = by_task(labels.index(target))
    results = []
    for reference in references:
        r_present, r_scored, r_successes, r_rate = by_task(labels.index(reference))
        common = (t_scored > 0) & (r_scored > 0)
        shown = set(place_of_task[t_present | r_present].tolist())
        sums: list[list[int]] = [
            np.bincount(place_of_task, weights=np.where(common, values, 0), minlength=len(places))
            .astype(np.int64)
            .tolist()
            for values in (common, t_scored, t_successes, r_scored, r_successes)
        ]
        t_task = _exact_sums(place_of_task[common], t_rate[common], len(places))
        r_task = _exact_sums(place_of_task[common], r_rate[common], len(places))
        for place in order:
            if place in shown:
                n, ts, tc, rs, rc = (column[place] for column in sums)
                counts = _Paired(n, ts, tc, t_task[place], rs, rc, r_task[place])
                results.append(_comparison(target, reference, places[place], counts, confidence))
        n, ts, tc, rs, rc = (sum(column) for column in sums)
        overall = _Paired(
            n,
            ts,
            tc,
            math.fsum(t_rate[common].tolist()),
            rs,
            rc,
            math.fsum(r_rate[common].tolist()),
        )
        results.append(_comparison(target, reference, (None, None), overall, confidence))
    return results


def _judge(low: float, high: float, threshold: float) -> CriterionOutcome:
    if low >= threshold:
        return "met"
    if high >= threshold:
        return "cannot_be_ruled_out"
    return "not_met"


@dataclass(frozen=True)
class _PlaceCounts:
    """One model's tasks with a scored attempt at one category and level."""

    tasks: int
    task_successes: float
    """Sum of the tasks' solve rates."""
    scored: int
    successes: int


_NO_TASKS = _PlaceCounts(0, 0.0, 0, 0)


def _place_counts(tasks: _Tasks, code: int) -> dict[tuple[str, int], _PlaceCounts]:
    """The counts of the model with label code `code`, by (category, level)."""
    mine = np.flatnonzero((tasks.label == code) & (tasks.scored > 0))
    place_codes, places = _intern([(tasks.category[i], int(tasks.level[i])) for i in mine.tolist()])
    size = len(places)

    def total(values: IntArray) -> list[int]:
        counted: list[int] = (
            np.bincount(place_codes, weights=values[mine], minlength=size).astype(np.int64).tolist()
        )
        return counted

    counts: list[int] = np.bincount(place_codes, minlength=size).tolist()
    task_successes = _exact_sums(place_codes, tasks.solve_rate[mine], size)
    scored, successes = total(tasks.scored), total(tasks.successes)
    return {
        place: _PlaceCounts(counts[p], task_successes[p], scored[p], successes[p])
        for p, place in enumerate(places)
    }


def _criterion(
    level: Level,
    criterion: Criterion,
    counts: dict[tuple[str, int], _PlaceCounts],
    confidence: float,
) -> CriterionResult:
    groups = (
        [list(criterion.candidates)]
        if criterion.aggregate == "pooled"
        else [[category] for category in criterion.candidates]
    )
    evidence = []
    for categories in groups:
        found = [counts.get((category, criterion.level), _NO_TASKS) for category in categories]
        task_count = sum(f.tasks for f in found)
        task_successes = math.fsum(f.task_successes for f in found)
        # Tasks are the trials: the epochs of one task are not independent attempts.
        low, high = wilson_interval(task_successes, task_count, confidence)
        evidence.append(
            Evidence(
                categories=categories,
                scored=sum(f.scored for f in found),
                successes=sum(f.successes for f in found),
                solve_rate=_rate(task_successes, task_count),
                interval=Interval(low=low, high=high),
                outcome=_judge(low, high, criterion.threshold),
                tasks=task_count,
                task_successes=task_successes,
            )
        )
    met = sum(e.outcome == "met" for e in evidence)
    not_ruled_out = sum(e.outcome != "not_met" for e in evidence)
    required = criterion.required
    outcome: CriterionOutcome = (
        "met"
        if met >= required
        else "cannot_be_ruled_out"
        if not_ruled_out >= required
        else "not_met"
    )
    return CriterionResult(
        level_id=level.id,
        criterion_id=criterion.id,
        description=criterion.description,
        level=criterion.level,
        threshold=criterion.threshold,
        aggregate=criterion.aggregate,
        required=required,
        met=met,
        not_ruled_out=not_ruled_out,
        evidence=evidence,
        outcome=outcome,
    )


def _combine(require: Literal["all", "any"], outcomes: list[CriterionOutcome]) -> CriterionOutcome:
    """All: met if every criterion is, not met if one is not. Any: met if one is, not met if none
    can be. A level without criteria (C0) is met."""
    if require == "all":
        if all(o == "met" for o in outcomes):
            return "met"
        return "not_met" if "not_met" in outcomes else "cannot_be_ruled_out"
    if "met" in outcomes:
        return "met"
    return "cannot_be_ruled_out" if "cannot_be_ruled_out" in outcomes else "not_met"


def _verdict(
    scale: CapabilityScale,
    target: str,
    counts: dict[tuple[str, int], _PlaceCounts],
    summary: ModelSummary,
    settings: DeterminationSettings,
) -> Verdict:
    criteria: list[CriterionResult] = []
    levels: list[LevelResult] = []
    for level in scale.levels:
        results = [_criterion(level, c, counts, settings.confidence) for c in level.criteria]
        criteria += results
        levels.append(
            LevelResult(
                level_id=level.id,
                title=level.title,
                require=level.require,
                outcome=_combine(level.require, [r.outcome for r in results]),
            )
        )
    classified = summary.samples - summary.unclassified
    infra = summary.infra_errors.total
    if summary.scored == 0:
        status: Literal["determined", "inconclusive"] = "inconclusive"
        reason = f"no scored samples for {target!r} ({classified} classified samples, {infra} infrastructure errors)"
    elif summary.error_share > settings.max_error_share:
        status = "inconclusive"
        reason = (
            f"infrastructure errors are {infra} of {classified} samples "
            f"({summary.error_share:.1%}), above the limit of {settings.max_error_share:.1%}"
        )
    else:
        status = "determined"
        reason = ""
    level_id = not_ruled_out = None
    if status == "determined":
        # Levels are C0..C4 in order and C0 (no criteria) is always met.
        level_id = [r.level_id for r in levels if r.outcome == "met"][-1]
        not_ruled_out = [r.level_id for r in levels if r.outcome != "not_met"][-1]
        reason = (
            f"{level_id} is the highest level met; {not_ruled_out} is the highest level "
            f"not ruled out; infrastructure errors {summary.error_share:.1%} "
            f"(limit {settings.max_error_share:.1%})"
        )
    return Verdict(
        model_label=target,
        status=status,
        reason=reason,
        level=level_id,
        highest_level_not_ruled_out=not_ruled_out,
        samples=summary.samples,
        scored=summary.scored,
        infra_errors=infra,
        error_share=summary.error_share,
        criteria=criteria,
        levels=levels,
    )


def determine(
    outcomes: Sequence[Outcome],
    scale: CapabilityScale,
    target: str,
    references: Sequence[str] | None = None,
    settings: DeterminationSettings | None = None,
) -> CapabilityDetermination:
    """Statistics of `outcomes` per model, category and level, comparisons of `target` with each
    reference label (default: every other label present), and the target's determination.
    """
    settings = settings or DeterminationSettings()
    present = list(dict.fromkeys(o.model_label for o in outcomes))
    if references is None:
        references = sorted(label for label in present if label != target)
    references = list(dict.fromkeys(references))
    if target in references:
        raise InvalidInput(f"the target {target!r} cannot also be a reference", field="references")
    # The target's code is 0.
    labels = [target, *references, *sorted(set(present) - {target, *references})]
    label_code = {label: code for code, label in enumerate(labels)}
    tasks, samples, unclassified = _per_task(outcomes, label_code)
    cells = _cells(tasks, labels, settings)
    models = _models(tasks, labels, samples, unclassified, settings)
    return CapabilityDetermination(
        scale_id=scale.id,
        scale_version=scale.version,
        scale_digest=scale.digest(),
        settings=settings,
        target=target,
        references=references,
        cells=cells,
        models=models,
        comparisons=_comparisons(tasks, labels, target, references, settings.confidence),
        verdict=_verdict(scale, target, _place_counts(tasks, 0), models[0], settings),
    )
