"""The cyber capability suite: seeded challenge families with proven reference solutions,
graded honestly, exposed as Inspect tasks, plus importers for public benchmarks.

Grading and verifying need Inspect and the sandbox, which take about a second to import; they
load on first use so that every `predeploy` command does not pay for them.
"""

import importlib
from typing import TYPE_CHECKING, Any

from ._challenge import (
    LEVELS,
    Category,
    ChallengeFamily,
    ChallengeInstance,
    ChallengeMetadata,
    CrashAnswer,
    FlagAnswer,
    LocationAnswer,
    Service,
)
from ._instances import (
    SEED_BITS,
    UnknownFamilyError,
    all_families,
    generate_instance,
    get_family,
    random_seeds,
)

if TYPE_CHECKING:
    from ._grading import Grade, grade
    from ._verify import SolutionRun, pose, run_solution, verify

_LAZY = {
    "Grade": "._grading",
    "grade": "._grading",
    "SolutionRun": "._verify",
    "pose": "._verify",
    "run_solution": "._verify",
    "verify": "._verify",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "LEVELS",
    "SEED_BITS",
    "Category",
    "ChallengeFamily",
    "ChallengeInstance",
    "ChallengeMetadata",
    "CrashAnswer",
    "FlagAnswer",
    "Grade",
    "LocationAnswer",
    "Service",
    "SolutionRun",
    "UnknownFamilyError",
    "all_families",
    "generate_instance",
    "get_family",
    "grade",
    "pose",
    "random_seeds",
    "run_solution",
    "verify",
]
