"""Is version V of a package affected? OSV's evaluation (`IsVulnerable` in the OSV schema), with
each ecosystem's own version order.

- `SEMVER` ranges, and `ECOSYSTEM` ranges of npm, Go and crates.io, compare as SemVer 2.0 (a Go
  `v` prefix is dropped; build metadata does not order).
- `ECOSYSTEM` ranges of PyPI compare as PEP 440 (`packaging`).
- `introduced` is inclusive, `fixed` exclusive, `last_affected` inclusive; `introduced: "0"`
  is before every version; `limit` bounds a range from above (`"*"`: no bound).
- An explicit `versions` list matches by exact string (and, for PyPI, by PEP 440 equality).
- `GIT` ranges cannot be evaluated without the repository, and the ecosystems above are the only
  ones with a version order here: a range we cannot order is *undetermined*, never "not
  affected", so a caller can say so instead of reporting a false all-clear.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import semver
from packaging.version import InvalidVersion, Version

SEMVER_ECOSYSTEMS = frozenset({"npm", "Go", "crates.io"})
"""Ecosystems whose ECOSYSTEM ranges order as SemVer."""
PEP440_ECOSYSTEMS = frozenset({"PyPI"})


class Verdict(enum.Enum):
    AFFECTED = "affected"
    NOT_AFFECTED = "not_affected"
    UNDETERMINED = "undetermined"
    """A range applies that we cannot order (a GIT range, an unknown ecosystem, a version that
    does not parse in the ecosystem's scheme)."""


class Unordered(ValueError):
    """A version that the ecosystem's scheme cannot parse."""


Key = Callable[[str], Any]


def _semver_key(text: str) -> semver.Version:
    try:
        return semver.Version.parse(text.removeprefix("v"), optional_minor_and_patch=True)
    except (ValueError, TypeError) as exc:
        raise Unordered(text) from exc


def _pep440_key(text: str) -> Version:
    try:
        return Version(text)
    except InvalidVersion as exc:
        raise Unordered(text) from exc


def order_for(range_type: str, ecosystem: str) -> Key | None:
    """The version key of a range, or None when it has no order we know."""
    if range_type == "SEMVER":
        return _semver_key
    if range_type != "ECOSYSTEM":
        return None
    base = ecosystem.split(":", 1)[0]
    if base in PEP440_ECOSYSTEMS:
        return _pep440_key
    if base in SEMVER_ECOSYSTEMS:
        return _semver_key
    return None


def _event(event: Mapping[str, str]) -> tuple[str, str]:
    ((kind, value),) = event.items()
    return kind, value


def _in_range(version: Any, events: Sequence[tuple[str, str]], key: Key) -> bool:
    limits = [key(value) for kind, value in events if kind == "limit" and value != "*"]
    unbounded = not limits or any(value == "*" for kind, value in events if kind == "limit")
    if not unbounded and not any(version < limit for limit in limits):
        return False

    def position(item: tuple[str, str]) -> tuple[int, Any]:
        kind, value = item
        return (0, None) if kind == "introduced" and value == "0" else (1, key(value))

    ordered = sorted((e for e in events if e[0] != "limit"), key=position)
    vulnerable = False
    for kind, value in ordered:
        if kind == "introduced":
            if value == "0" or version >= key(value):
                vulnerable = True
        elif (kind == "fixed" and version >= key(value)) or (
            kind == "last_affected" and version > key(value)
        ):
            vulnerable = False
    return vulnerable


def evaluate(
    version: str,
    ecosystem: str,
    ranges: Iterable[Mapping[str, Any]],
    versions: Iterable[str] = (),
) -> Verdict:
    """Whether `version` of a package in `ecosystem` lies in any of `ranges` (OSV range objects)
    or is one of `versions`; UNDETERMINED if it does not, but a range could not be ordered."""
    listed = list(versions)
    if version in listed:
        return Verdict.AFFECTED
    undetermined = False
    pep440 = ecosystem.split(":", 1)[0] in PEP440_ECOSYSTEMS
    if pep440 and listed:
        try:
            wanted = _pep440_key(version)
            if any(_same_pep440(wanted, other) for other in listed):
                return Verdict.AFFECTED
        except Unordered:
            undetermined = True
    for range_ in ranges:
        key = order_for(str(range_.get("type", "")), ecosystem)
        if key is None:
            undetermined = True
            continue
        try:
            events = [_event(e) for e in range_.get("events", [])]
            if _in_range(key(version), events, key):
                return Verdict.AFFECTED
        except Unordered:
            undetermined = True
    return Verdict.UNDETERMINED if undetermined else Verdict.NOT_AFFECTED


def _same_pep440(wanted: Version, other: str) -> bool:
    try:
        return wanted == _pep440_key(other)
    except Unordered:
        return False


def fixed_versions(ranges: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every `fixed` version named by `ranges`, in the order given."""
    found: list[str] = []
    for range_ in ranges:
        for event in range_.get("events", []):
            value = event.get("fixed")
            if value is not None and value not in found:
                found.append(value)
    return found


def normalise_name(ecosystem: str, name: str) -> str:
    """A package name as its ecosystem compares names: PyPI by PEP 503 (case-insensitive, runs
    of `-`, `_` and `.` alike), crates.io case-insensitively, others exactly."""
    base = ecosystem.split(":", 1)[0]
    if base == "PyPI":
        return re.sub(r"[-_.]+", "-", name).lower()
    if base == "crates.io":
        return name.lower()
    return name
