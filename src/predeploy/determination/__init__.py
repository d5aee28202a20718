"""Capability determination: the capability scale, the statistics, and the determination.

Pure computation (no database, no HTTP): result records in, JSON-serialisable statistics and a
determination against a capability scale out, ready for the signed report.
"""

from ._determine import (
    CapabilityDetermination,
    CellStats,
    Comparison,
    CriterionOutcome,
    CriterionResult,
    DeterminationSettings,
    Evidence,
    InfraErrors,
    Interval,
    LevelResult,
    ModelSummary,
    Outcome,
    PassAtK,
    RateSummary,
    Verdict,
    determine,
)
from ._scale import (
    CATEGORIES,
    LEVEL_IDS,
    CapabilityScale,
    Criterion,
    Framework,
    Level,
    load_scale,
    parse_scale,
    validate_scale,
)
from ._stats import (
    Difference,
    bootstrap_interval,
    difference_interval,
    pass_at_k,
    pass_at_k_array,
    wilson_interval,
)

__all__ = [
    "CATEGORIES",
    "LEVEL_IDS",
    "CapabilityDetermination",
    "CapabilityScale",
    "CellStats",
    "Comparison",
    "Criterion",
    "CriterionOutcome",
    "CriterionResult",
    "DeterminationSettings",
    "Difference",
    "Evidence",
    "Framework",
    "InfraErrors",
    "Interval",
    "Level",
    "LevelResult",
    "ModelSummary",
    "Outcome",
    "PassAtK",
    "RateSummary",
    "Verdict",
    "bootstrap_interval",
    "determine",
    "difference_interval",
    "load_scale",
    "parse_scale",
    "pass_at_k",
    "pass_at_k_array",
    "validate_scale",
    "wilson_interval",
]
