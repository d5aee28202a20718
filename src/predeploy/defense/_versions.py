"""Is version V of a package affected? OSV's evaluation (`IsVulnerable` in the OSV schema), with
each ecosystem's own version order.

- `SEMVER` ranges, and `ECOSYSTEM` ranges of npm, Go and crates.io, compare as SemVer 2.0 (a Go
  `v` prefix is dropped; build metadata does not order).
- `ECOSYSTEM` ranges of PyPI compare as PEP 440 (`packaging`).
- `introduced` is inclusive, `fixed` exclusive, `last_affected` inclusive; `introduced: "0"`
  is before every version; `limit` bounds a range from above (`"*"`: no bound).
- An explicit `versions` list matches by exact string (and, for PyPI, by PEP 440 equality).
- `GIT` ranges name commits, not releases: they cannot be evaluated without the repository, so
  an affected entry whose only description is a GIT range is *undetermined*; next to version
  ranges or a `versions` list (as in most OSV records) it adds nothing for a released version.
- The ecosystems above are the only ones with a version order here: an ECOSYSTEM range of
  another ecosystem is *undetermined*, never "not affected", so a caller can say so instead of
  reporting a false all-clear.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import semver
from packaging.utils import canonicalize_version
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


@functools.lru_cache(maxsize=65_536)
def _parse_semver(text: str) -> semver.Version | None:
    try:
        return semver.Version.parse(text.removeprefix("v"), optional_minor_and_patch=True)
    except (ValueError, TypeError):
        return None


@functools.lru_cache(maxsize=65_536)
def _parse_pep440(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


# Parsed versions are cached, failures too: a check compares the same few thousand versions over
# and over (bench/sbom_check.py).
def _semver_key(text: str) -> semver.Version:
    parsed = _parse_semver(text)
    if parsed is None:
        raise Unordered(text)
    return parsed


def _pep440_key(text: str) -> Version:
    parsed = _parse_pep440(text)
    if parsed is None:
        raise Unordered(text)
    return parsed


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


def canonical(ecosystem: str, version: str) -> str:
    """A version as its ecosystem compares listed versions: PyPI's PEP 440 canonical form
    (`1.0.0` and `1.0` are one version), else as written."""
    if ecosystem.split(":", 1)[0] in PEP440_ECOSYSTEMS:
        parsed = _parse_pep440(version)
        if parsed is not None:
            return canonicalize_version(parsed)
    return version


def version_index(ecosystem: str, versions: Iterable[str]) -> str:
    """An affected entry's `versions`, canonical, one per line, for `evaluate(index=...)`: a
    check looks a version up there without decoding the list."""
    lines = "\n".join(canonical(ecosystem, v) for v in versions)
    return f"\n{lines}\n" if lines else ""


def evaluate(
    version: str,
    ecosystem: str,
    ranges: Iterable[Mapping[str, Any]],
    versions: Sequence[str] = (),
    *,
    index: str | None = None,
) -> Verdict:
    """Whether `version` of a package in `ecosystem` lies in any of `ranges` (OSV range objects)
    or is one of `versions` (or, given instead, of their `version_index`); UNDETERMINED if it
    does not, but a range could not be ordered."""
    listed = bool(index) if index is not None else bool(versions)
    if index is not None:
        if f"\n{canonical(ecosystem, version)}\n" in index:
            return Verdict.AFFECTED
    elif version in versions:
        return Verdict.AFFECTED
    undetermined = False
    unordered_git = False
    described = listed
    for range_ in ranges:
        range_type = str(range_.get("type", ""))
        key = order_for(range_type, ecosystem)
        if key is None:
            if range_type == "GIT":
                unordered_git = True
            else:
                undetermined = True
            continue
        described = True
        try:
            events = [_event(e) for e in range_.get("events", [])]
            if _in_range(key(version), events, key):
                return Verdict.AFFECTED
        except Unordered:
            undetermined = True
    if index is None and versions and ecosystem.split(":", 1)[0] in PEP440_ECOSYSTEMS:
        wanted = _parse_pep440(version)
        if wanted is None:
            undetermined = True
        elif wanted in _pep440_set(tuple(versions)):
            return Verdict.AFFECTED
    # A GIT range says which commits are affected; for a released version, the entry's
    # version ranges and list say it. Only an entry with nothing else is undetermined by it.
    if unordered_git and not described:
        undetermined = True
    return Verdict.UNDETERMINED if undetermined else Verdict.NOT_AFFECTED


@functools.lru_cache(maxsize=4096)
def _pep440_set(versions: tuple[str, ...]) -> frozenset[Version]:
    """The listed versions that parse as PEP 440, for equality (`1.0` is `1.0.0`)."""
    return frozenset(v for v in map(_parse_pep440, versions) if v is not None)


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
