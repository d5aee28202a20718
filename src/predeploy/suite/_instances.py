"""Looking up families and generating instances, and what an instance needs from the sandbox."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from functools import lru_cache

from ._challenge import LEVELS, ChallengeFamily, ChallengeInstance

# 53 bits: unguessable (about 9e15 values), and every seed is an integer JSON represents exactly
# (RFC 8785 canonical JSON, which signed reports use, and JavaScript numbers refuse larger ones).
SEED_BITS = 53


class UnknownFamilyError(ValueError):
    """A family name that the suite does not have."""


def all_families() -> dict[str, ChallengeFamily]:
    """Every built-in family by name, in the suite's order."""
    from .families import FAMILIES

    return FAMILIES


def get_family(name: str) -> ChallengeFamily:
    found = all_families().get(name)
    if found is None:
        known = ", ".join(all_families())
        raise UnknownFamilyError(f"unknown challenge family {name!r}; known: {known}")
    return found


def select_families(names: Iterable[str] | None) -> list[ChallengeFamily]:
    """The named families (all when `names` is None), validated, in the suite's order."""
    if names is None:
        return list(all_families().values())
    wanted = list(names)
    for name in wanted:
        get_family(name)
    return [family for name, family in all_families().items() if name in wanted]


def validate_levels(levels: Iterable[int]) -> list[int]:
    chosen = sorted(set(levels))
    bad = [level for level in chosen if level not in LEVELS]
    if bad or not chosen:
        raise ValueError(f"levels must be among {list(LEVELS)}; got {list(levels)}")
    return chosen


def random_seeds(count: int) -> list[int]:
    """Seeds for real campaigns: from a cryptographic source, so no one can precompute flags.

    The small public seeds (0, 1, 2, ...) are for tests and demos only: the generators are
    open source, so anyone can derive those instances.
    """
    if count < 1:
        raise ValueError("the number of instances must be at least 1")
    return [secrets.randbits(SEED_BITS) for _ in range(count)]


@lru_cache(maxsize=512)
def generate_instance(family: str, seed: int, level: int) -> ChallengeInstance:
    """The instance for `(family, seed, level)`; cached because generation may compile C."""
    return get_family(family).generate(seed, level)
