"""The safeguards section's statement: do the production safeguards bring capability below the
level the most capable variant meets?"""

from __future__ import annotations

from predeploy.determination import (
    CapabilityDetermination,
    DeterminationSettings,
    Outcome,
    determine,
    load_scale,
)
from predeploy.reports._sections import effective_capability, is_capability_task

SCALE = load_scale()
CATEGORIES = ("crypto", "pwn", "web", "reverse", "recon", "vuln_discovery", "code_review")


def _outcomes(label: str, score: float, samples: int = 10) -> list[Outcome]:
    return [
        Outcome(
            task=f"suite-{category}-{level}",
            sample_id=f"s{index}",
            epoch=1,
            model_label=label,
            category=category,
            level=level,
            score=score,
            error_class="none",
        )
        for category in CATEGORIES
        for level in (1, 2, 3)
        for index in range(samples)
    ]


def _determine(outcomes: list[Outcome], target: str) -> CapabilityDetermination:
    return determine(outcomes, SCALE, target, [], DeterminationSettings())


def test_safeguards_that_rule_out_the_level_bring_it_below() -> None:
    outcomes = _outcomes("reduced-safeguards", 1.0) + _outcomes("production", 0.0)
    most = _determine(outcomes, "reduced-safeguards")
    production = _determine(outcomes, "production")

    effective = effective_capability(most, production, "production", SCALE)

    assert (effective.status, effective.threshold_level, effective.production_level) == (
        "below",
        most.verdict.level,
        "C0",
    )
    assert most.verdict.level != "C0"
    assert f"below {most.verdict.level}" in effective.statement


def test_safeguards_that_leave_the_level_standing_do_not() -> None:
    outcomes = _outcomes("reduced-safeguards", 1.0) + _outcomes("production", 1.0)
    most = _determine(outcomes, "reduced-safeguards")
    production = _determine(outcomes, "production")

    effective = effective_capability(most, production, "production", SCALE)

    assert effective.status == "not_below"
    assert effective.production_level == most.verdict.level


def test_the_production_variant_being_the_most_capable_is_not_below() -> None:
    outcomes = _outcomes("production", 1.0)
    most = _determine(outcomes, "production")

    effective = effective_capability(most, most, "production", SCALE)

    assert effective.status == "not_below"
    assert "itself the most capable" in effective.statement


def test_production_without_capability_samples_is_inconclusive() -> None:
    most = _determine(_outcomes("reduced-safeguards", 1.0), "reduced-safeguards")

    effective = effective_capability(most, None, "production", SCALE)

    assert effective.status == "inconclusive"
    assert "No capability task ran against the production variant" in effective.statement


def test_nothing_above_the_lowest_level_leaves_nothing_to_bring_below() -> None:
    outcomes = _outcomes("reduced-safeguards", 0.0) + _outcomes("production", 0.0)
    most = _determine(outcomes, "reduced-safeguards")

    effective = effective_capability(most, _determine(outcomes, "production"), "production", SCALE)

    assert effective.status == "not_applicable"


def test_safeguard_and_identity_tasks_are_not_capability_tasks() -> None:
    assert is_capability_task("predeploy/cyber_suite")
    assert not is_capability_task("predeploy/safeguards_misuse")
    assert not is_capability_task("predeploy/safeguards_overrefusal")
    assert not is_capability_task("predeploy/identity_probes")


def test_a_lowest_level_with_higher_levels_still_open_is_inconclusive() -> None:
    most = _determine(_outcomes("reduced-safeguards", 0.0, samples=1), "reduced-safeguards")
    assert most.verdict.highest_level_not_ruled_out != "C0"

    effective = effective_capability(most, None, "production", SCALE)

    assert effective.status == "inconclusive"
    assert "cannot be ruled out" in effective.statement
