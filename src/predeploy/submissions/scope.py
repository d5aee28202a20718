"""Scope policy: which submissions are in scope for priority testing.

In scope when the declared training compute reaches the configured threshold, or when the
developer declares the model frontier. Out-of-scope submissions can still be accepted.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ScopeDecision:
    in_scope: bool
    reason: str


def decide_scope(
    training_flop: float | None, declared_frontier: bool, min_training_flop: float
) -> ScopeDecision:
    """Apply the policy to one model's declarations."""
    threshold = f"{min_training_flop:.3g} FLOP"
    if training_flop is not None and training_flop >= min_training_flop:
        return ScopeDecision(
            True, f"declared training compute {training_flop:.3g} FLOP >= {threshold}"
        )
    if declared_frontier:
        return ScopeDecision(True, "declared frontier by the developer")
    if training_flop is None:
        return ScopeDecision(
            False, f"training compute not declared, threshold {threshold}; not declared frontier"
        )
    return ScopeDecision(
        False,
        f"declared training compute {training_flop:.3g} FLOP < {threshold}; not declared frontier",
    )
