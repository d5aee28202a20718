from __future__ import annotations

import itertools
import math
from statistics import NormalDist

import numpy as np
import numpy.typing as npt
import pytest

from predeploy.determination import (
    bootstrap_interval,
    difference_interval,
    pass_at_k,
    pass_at_k_array,
    wilson_interval,
)
from predeploy.errors import InvalidInput


def wilson_by_formula(successes: float, trials: int, confidence: float) -> tuple[float, float]:
    """The closed form (2np + z^2 -/+ z sqrt(z^2 + 4np(1-p))) / (2(n + z^2)): algebraically the
    Wilson interval, written differently from the implementation's centre +/- half-width."""
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    p = successes / trials
    root = z * math.sqrt(z * z + 4 * trials * p * (1 - p))
    denominator = 2 * (trials + z * z)
    return (
        (2 * trials * p + z * z - root) / denominator,
        (2 * trials * p + z * z + root) / denominator,
    )


# Published 95% Wilson intervals, 4 decimals: Newcombe (1998), "Two-sided confidence intervals
# for the single proportion", Statistics in Medicine 17:857-872 (81/263, 15/148, 0/20, 1/29),
# and the textbook 0/10, 5/10, 10/10.
@pytest.mark.parametrize(
    ("successes", "trials", "low", "high"),
    [
        (0, 10, 0.0, 0.2775),
        (5, 10, 0.2366, 0.7634),
        (10, 10, 0.7225, 1.0),
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_matches_published_values(
    successes: int, trials: int, low: float, high: float
) -> None:
    got = wilson_interval(successes, trials)
    assert got[0] == pytest.approx(low, abs=5e-5)
    assert got[1] == pytest.approx(high, abs=5e-5)


@pytest.mark.parametrize("confidence", [0.8, 0.9, 0.95, 0.99])
@pytest.mark.parametrize(("successes", "trials"), [(0, 10), (5, 10), (10, 10), (81, 263), (3, 7)])
def test_wilson_matches_the_closed_form(successes: int, trials: int, confidence: float) -> None:
    expected = wilson_by_formula(successes, trials, confidence)
    assert wilson_interval(successes, trials, confidence) == pytest.approx(expected, abs=1e-12)


def test_wilson_bounds_are_exact_at_the_extremes() -> None:
    assert wilson_interval(0, 1000)[0] == 0.0
    assert wilson_interval(1000, 1000)[1] == 1.0


def test_wilson_without_trials_is_the_whole_range() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_wilson_narrows_with_lower_confidence_and_more_trials() -> None:
    low90, high90 = wilson_interval(50, 100, 0.90)
    low99, high99 = wilson_interval(50, 100, 0.99)
    assert high90 - low90 < high99 - low99
    low_big, high_big = wilson_interval(500, 1000)
    low_small, high_small = wilson_interval(50, 100)
    assert high_big - low_big < high_small - low_small


@pytest.mark.parametrize(
    ("successes", "trials", "confidence", "field"),
    [
        (11, 10, 0.95, "successes"),
        (-1, 10, 0.95, "successes"),
        (0, -1, 0.95, "trials"),
        (1, 10, 1.0, "confidence"),
        (1, 10, 0.0, "confidence"),
    ],
)
def test_wilson_rejects_bad_input(
    successes: int, trials: int, confidence: float, field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        wilson_interval(successes, trials, confidence)
    assert caught.value.field == field
    assert field in caught.value.message


# Per-task judging passes the sum of the tasks' solve rates as the success count: a fraction.
@pytest.mark.parametrize(
    ("successes", "trials", "below", "above"),
    [(2.5, 10, 2, 3), (1 / 3, 5, 0, 1), (9.75, 10, 9, 10), (0.1, 1, 0, 1)],
)
def test_wilson_accepts_a_fractional_success_count(
    successes: float, trials: int, below: int, above: int
) -> None:
    got = wilson_interval(successes, trials)
    assert got == pytest.approx(wilson_by_formula(successes, trials, 0.95), abs=1e-12)
    assert wilson_interval(below, trials) < got < wilson_interval(above, trials)


def test_wilson_of_a_whole_float_count_is_that_of_the_integer() -> None:
    assert wilson_interval(3.0, 10) == wilson_interval(3, 10)
    assert wilson_interval(0.0, 10)[0] == 0.0
    assert wilson_interval(10.0, 10)[1] == 1.0


@pytest.mark.parametrize("successes", [float("nan"), 10.5, -0.25, float("inf")])
def test_wilson_rejects_fractional_counts_outside_the_trials(successes: float) -> None:
    with pytest.raises(InvalidInput) as caught:
        wilson_interval(successes, 10)
    assert caught.value.field == "successes"


def pass_at_k_by_enumeration(n: int, c: int, k: int) -> float:
    """Share of all k-subsets of n attempts (the first c successes) holding a success."""
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(i < c for i in subset) for subset in subsets) / len(subsets)


@pytest.mark.parametrize("n", range(1, 8))
def test_pass_at_k_matches_enumeration_of_all_subsets(n: int) -> None:
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert pass_at_k(n, c, k) == pytest.approx(pass_at_k_by_enumeration(n, c, k), abs=1e-12)


def test_pass_at_k_is_stable_for_large_n() -> None:
    exact = 1 - math.comb(197, 100) / math.comb(200, 100)
    assert pass_at_k(200, 3, 100) == pytest.approx(exact, rel=1e-12)
    assert pass_at_k(10_000, 1, 1) == pytest.approx(1e-4, rel=1e-12)


def test_pass_at_one_is_the_success_share_and_fewer_failures_than_k_is_certain() -> None:
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert pass_at_k(10, 8, 3) == 1.0
    assert pass_at_k(5, 0, 5) == 0.0


def test_pass_at_k_array_agrees_with_the_scalar_estimator() -> None:
    n = np.array([5, 5, 7, 10, 3])
    c = np.array([0, 2, 7, 1, 3])
    values = pass_at_k_array(n, c, 3)
    assert values.tolist() == pytest.approx(
        [pass_at_k(int(a), int(b), 3) for a, b in zip(n, c, strict=True)]
    )


@pytest.mark.parametrize(
    ("n", "c", "k", "field"), [(0, 0, 1, "n"), (5, 6, 1, "c"), (5, 2, 0, "k"), (5, 2, 6, "k")]
)
def test_pass_at_k_rejects_bad_input(n: int, c: int, k: int, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        pass_at_k(n, c, k)
    assert caught.value.field == field


def pooled(totals: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    rate: npt.NDArray[np.float64] = totals[:, 0] / totals[:, 1]
    return rate


def task_groups() -> np.ndarray:
    rng = np.random.default_rng(7)
    scored = rng.integers(1, 6, size=300)
    successes = rng.binomial(scored, 0.4)
    return np.column_stack((successes, scored))


def test_bootstrap_is_deterministic_given_a_seed() -> None:
    groups = task_groups()
    first = bootstrap_interval(groups, pooled, resamples=500, seed=3)
    assert bootstrap_interval(groups, pooled, resamples=500, seed=3) == first
    assert bootstrap_interval(groups, pooled, resamples=500, seed=4) != first


def test_bootstrap_does_not_depend_on_the_order_of_groups() -> None:
    groups = task_groups()
    shuffled = groups[np.random.default_rng(1).permutation(len(groups))]
    assert bootstrap_interval(shuffled, pooled, seed=5) == bootstrap_interval(
        groups, pooled, seed=5
    )


def test_bootstrap_covers_the_point_estimate_and_matches_naive_resampling() -> None:
    groups = task_groups()
    estimate = groups[:, 0].sum() / groups[:, 1].sum()
    low, high = bootstrap_interval(groups, pooled, resamples=20_000, seed=11)
    assert low < estimate < high
    # The textbook procedure: draw task indices with replacement, sum, take percentiles.
    rng = np.random.default_rng(12)
    index = rng.integers(0, len(groups), size=(5_000, len(groups)))
    naive = groups[index].sum(axis=1)
    naive_low, naive_high = np.quantile(naive[:, 0] / naive[:, 1], [0.025, 0.975])
    assert low == pytest.approx(naive_low, abs=0.005)
    assert high == pytest.approx(naive_high, abs=0.005)


def test_bootstrap_of_identical_tasks_has_no_spread() -> None:
    groups = np.array([[1, 2]] * 50)
    assert bootstrap_interval(groups, pooled, resamples=200) == (0.5, 0.5)


def test_bootstrap_rejects_empty_groups_and_bad_statistics() -> None:
    with pytest.raises(InvalidInput) as caught:
        bootstrap_interval(np.zeros((0, 2)), pooled)
    assert caught.value.field == "groups"
    with pytest.raises(InvalidInput) as caught:
        bootstrap_interval(task_groups(), lambda totals: totals[:3, 0], resamples=100)
    assert caught.value.field == "statistic"
    with pytest.raises(InvalidInput) as caught:
        bootstrap_interval(task_groups(), lambda t: np.full(len(t), np.inf), resamples=100)
    assert "not finite" in caught.value.message


# Newcombe (1998), "Interval estimation for the difference between independent proportions",
# Statistics in Medicine 17:873-890, Table II, method 10.
@pytest.mark.parametrize(
    ("a", "m", "b", "n", "low", "high"),
    [
        (56, 70, 48, 80, 0.0524, 0.3339),
        (9, 10, 3, 10, 0.1705, 0.8090),
        (6, 7, 2, 7, 0.0582, 0.8062),
        (5, 56, 0, 29, -0.0381, 0.1926),
        (0, 10, 0, 20, -0.1611, 0.2775),
        (0, 10, 0, 10, -0.2775, 0.2775),
        (10, 10, 0, 20, 0.6791, 1.0),
        (10, 10, 0, 10, 0.6075, 1.0),
    ],
)
def test_difference_matches_newcombe_published_values(
    a: int, m: int, b: int, n: int, low: float, high: float
) -> None:
    difference = difference_interval(a, m, b, n)
    assert difference.estimate == pytest.approx(a / m - b / n)
    assert difference.low == pytest.approx(low, abs=5e-5)
    assert difference.high == pytest.approx(high, abs=5e-5)


@pytest.mark.parametrize(("a", "m", "b", "n"), [(2.5, 10, 1.0, 10), (1 / 3, 5, 0.5, 4)])
def test_difference_accepts_fractional_success_counts(a: float, m: int, b: float, n: int) -> None:
    l1, u1 = wilson_by_formula(a, m, 0.95)
    l2, u2 = wilson_by_formula(b, n, 0.95)
    p1, p2 = a / m, b / n
    difference = difference_interval(a, m, b, n)
    assert difference.estimate == pytest.approx(p1 - p2)
    assert difference.low == pytest.approx(p1 - p2 - math.hypot(p1 - l1, u2 - p2), abs=1e-12)
    assert difference.high == pytest.approx(p1 - p2 + math.hypot(u1 - p1, p2 - l2), abs=1e-12)


def test_difference_needs_trials_on_both_sides() -> None:
    with pytest.raises(InvalidInput) as caught:
        difference_interval(0, 0, 1, 2)
    assert caught.value.field == "trials1"
    with pytest.raises(InvalidInput) as caught:
        difference_interval(1, 2, 3, 2)
    assert caught.value.field == "successes2"
