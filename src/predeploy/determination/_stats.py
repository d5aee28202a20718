"""Interval estimates for solve rates: Wilson, pass@k, task bootstrap, Newcombe differences.

Pure functions over counts (and numpy arrays where the work is per task); no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from statistics import NormalDist
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from ..errors import InvalidInput

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class Difference(NamedTuple):
    """A difference of two proportions, p1 - p2, with its confidence interval."""

    estimate: float
    low: float
    high: float


def _z(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise InvalidInput(
            f"confidence must be strictly between 0 and 1; got {confidence}", field="confidence"
        )
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def _check_counts(successes: float, trials: int, suffix: str = "") -> None:
    if trials < 0:
        raise InvalidInput(f"trials{suffix} must be >= 0; got {trials}", field=f"trials{suffix}")
    # Written so that NaN fails too.
    if not 0 <= successes <= trials:
        raise InvalidInput(
            f"successes{suffix} must be between 0 and trials{suffix} ({trials}); got {successes}",
            field=f"successes{suffix}",
        )


def wilson_interval(successes: float, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval for a binomial proportion (Wilson 1927).

    With no trials nothing is known, so the interval is the whole of [0, 1]. The bounds are
    exactly 0 at 0 successes and exactly 1 at `trials` successes (no rounding drift), which the
    met / not-met rule relies on. `successes` may be fractional: with tasks as the trials, it is
    the sum of the tasks' solve rates over their epochs (the formula needs only p = successes /
    trials and n = trials).
    """
    _check_counts(successes, trials)
    z = _z(confidence)
    if trials == 0:
        return 0.0, 1.0
    n = float(trials)
    p = successes / n
    z2 = z * z
    denominator = 1.0 + z2 / n
    centre = (p + z2 / (2.0 * n)) / denominator
    half = (z / denominator) * math.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n))
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return low, high


def pass_at_k_array(n: IntArray, c: IntArray, k: int) -> FloatArray:
    """Unbiased pass@k per task, vectorised over tasks: n attempts, c successes each.

    1 - C(n-c, k) / C(n, k), computed as 1 - prod_{j<k} (n-c-j) / (n-j): every factor is in
    [0, 1], so there are no large binomials and no cancellation (Chen et al. 2021 use the
    equivalent product over i = n-c+1..n of (1 - k/i)). Every n must be >= k.
    """
    n_f = np.asarray(n, dtype=np.float64)
    failures = n_f - np.asarray(c, dtype=np.float64)
    all_fail = np.ones_like(n_f)
    for j in range(k):
        all_fail *= np.clip(failures - j, 0.0, None) / (n_f - j)
    result: FloatArray = 1.0 - all_fail
    return result


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased pass@k estimator of Chen et al. (2021), "Evaluating Large Language Models
    Trained on Code": the probability that at least one of k attempts drawn without replacement
    from n attempts (c of them successes) succeeds.
    """
    if n < 1:
        raise InvalidInput(f"n must be >= 1; got {n}", field="n")
    if not 0 <= c <= n:
        raise InvalidInput(f"c must be between 0 and n ({n}); got {c}", field="c")
    if not 1 <= k <= n:
        raise InvalidInput(f"k must be between 1 and n ({n}); got {k}", field="k")
    return float(pass_at_k_array(np.array([n]), np.array([c]), k)[0])


def bootstrap_interval(
    groups: npt.ArrayLike,
    statistic: Callable[[FloatArray], FloatArray],
    resamples: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of a statistic of column totals, resampling groups (tasks).

    `groups` has one row per group (a task: all attempts at one challenge instance) and one column
    per additive quantity, e.g. (successes, scored attempts). Each resample draws as many groups as
    there are, with replacement; `statistic` receives the column totals of every resample at once,
    an array of shape (resamples, columns), and returns one value per resample (e.g. totals[:, 0] /
    totals[:, 1] for a pooled solve rate). Resampling whole tasks keeps the attempts of one task
    together, so correlation between the epochs of a task widens the interval as it should.
    Deterministic for a given seed (and the same groups in any order). The statistic must be
    finite on every resample.
    """
    rows = np.asarray(groups, dtype=np.float64)
    if rows.ndim != 2 or rows.shape[0] == 0:
        raise InvalidInput(
            f"groups must be a non-empty 2-D array (groups x columns); got shape {rows.shape}",
            field="groups",
        )
    if resamples < 1:
        raise InvalidInput(f"resamples must be >= 1; got {resamples}", field="resamples")
    _z(confidence)
    count = rows.shape[0]
    # Drawing `count` groups with replacement only matters through how often each distinct row
    # is drawn, which is multinomial in the rows' frequencies: collapsing identical rows first
    # makes the cost grow with the distinct rows (few when rows are counts of a few epochs),
    # not with the number of tasks, and gives the same distribution.
    distinct, frequency = np.unique(rows, axis=0, return_counts=True)
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(count, frequency / count, size=resamples)
    totals = draws.astype(np.float64) @ distinct
    values = np.asarray(statistic(totals), dtype=np.float64)
    if values.shape != (resamples,):
        raise InvalidInput(
            f"statistic must return one value per resample ({resamples}); got shape {values.shape}",
            field="statistic",
        )
    if not np.all(np.isfinite(values)):
        raise InvalidInput("statistic is not finite on every resample", field="statistic")
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(values, [tail, 1.0 - tail])
    return float(low), float(high)


def difference_interval(
    successes1: float,
    trials1: int,
    successes2: float,
    trials2: int,
    confidence: float = 0.95,
) -> Difference:
    """p1 - p2 with Newcombe's hybrid score interval (Newcombe 1998, "Interval estimation for the
    difference between independent proportions: comparison of eleven methods", Statistics in
    Medicine 17:873-890, method 10), built from the two Wilson intervals (l1, u1) and (l2, u2):

        low  = d - sqrt((p1 - l1)^2 + (u2 - p2)^2)
        high = d + sqrt((u1 - p1)^2 + (p2 - l2)^2)

    Both samples need at least one trial; success counts may be fractional, as in
    `wilson_interval`.
    """
    _check_counts(successes1, trials1, "1")
    _check_counts(successes2, trials2, "2")
    for index, trials in ((1, trials1), (2, trials2)):
        if trials == 0:
            raise InvalidInput(
                f"sample {index} has no trials; a difference needs both proportions",
                field=f"trials{index}",
            )
    p1 = successes1 / trials1
    p2 = successes2 / trials2
    l1, u1 = wilson_interval(successes1, trials1, confidence)
    l2, u2 = wilson_interval(successes2, trials2, confidence)
    d = p1 - p2
    low = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return Difference(d, max(-1.0, low), min(1.0, high))
