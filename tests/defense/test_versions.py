"""OSV range evaluation against hand-checked boundary cases, per ecosystem order."""

from __future__ import annotations

from typing import Any

import pytest

from predeploy.defense._versions import Verdict, evaluate, fixed_versions, version_index

A, N, U = Verdict.AFFECTED, Verdict.NOT_AFFECTED, Verdict.UNDETERMINED


def eco(*events: dict[str, str]) -> list[dict[str, Any]]:
    return [{"type": "ECOSYSTEM", "events": list(events)}]


def sem(*events: dict[str, str]) -> list[dict[str, Any]]:
    return [{"type": "SEMVER", "events": list(events)}]


@pytest.mark.parametrize(
    ("version", "ecosystem", "ranges", "versions", "expected"),
    [
        # introduced inclusive, fixed exclusive
        ("1.0.0", "PyPI", eco({"introduced": "1.0.0"}, {"fixed": "1.0.2"}), [], A),
        ("1.0.1", "PyPI", eco({"introduced": "1.0.0"}, {"fixed": "1.0.2"}), [], A),
        ("1.0.2", "PyPI", eco({"introduced": "1.0.0"}, {"fixed": "1.0.2"}), [], N),
        ("0.9", "PyPI", eco({"introduced": "1.0.0"}, {"fixed": "1.0.2"}), [], N),
        # "0" is before everything, even pre-releases
        ("0.0.1a1", "PyPI", eco({"introduced": "0"}, {"fixed": "1.0"}), [], A),
        # PEP 440 order, not string order: 1.10 > 1.9; 2.0rc1 < 2.0; 1.0.post1 > 1.0
        ("1.10", "PyPI", eco({"introduced": "0"}, {"fixed": "1.9"}), [], N),
        ("2.0rc1", "PyPI", eco({"introduced": "0"}, {"fixed": "2.0"}), [], A),
        ("1.0.post1", "PyPI", eco({"introduced": "0"}, {"last_affected": "1.0"}), [], N),
        # last_affected inclusive
        ("1.0", "PyPI", eco({"introduced": "0"}, {"last_affected": "1.0"}), [], A),
        ("1.0.0", "PyPI", eco({"introduced": "0"}, {"last_affected": "1.0"}), [], A),
        # several intervals in one range, given out of order
        ("3.1.0", "npm", sem({"introduced": "3.0.0"}, {"fixed": "3.2.5"},
                             {"introduced": "1.0.0"}, {"fixed": "1.0.2"}), [], A),
        ("2.0.0", "npm", sem({"introduced": "1.0.0"}, {"fixed": "1.0.2"},
                             {"introduced": "3.0.0"}, {"fixed": "3.2.5"}), [], N),
        # SemVer pre-release order: 1.0.0-alpha < 1.0.0-beta < 1.0.0
        ("1.0.0-beta", "npm", eco({"introduced": "1.0.0-alpha"}, {"fixed": "1.0.0"}), [], A),
        ("1.0.0", "npm", eco({"introduced": "1.0.0-alpha"}, {"fixed": "1.0.0"}), [], N),
        # Go: a v prefix on the component's version
        ("v1.4.0", "Go", sem({"introduced": "0"}, {"fixed": "1.4.1"}), [], A),
        ("1.10.0", "crates.io", eco({"introduced": "0"}, {"fixed": "1.9.0"}), [], N),
        # limit bounds a range from above
        ("2.0.0", "npm", sem({"introduced": "1.0.0"}, {"limit": "2.0.0"}), [], N),
        ("1.5.0", "npm", sem({"introduced": "1.0.0"}, {"limit": "2.0.0"}), [], A),
        ("9.0.0", "npm", sem({"introduced": "1.0.0"}, {"limit": "*"}), [], A),
        # several ranges: any one is enough
        ("5.0", "PyPI", eco({"introduced": "0"}, {"fixed": "1.0"})
                        + eco({"introduced": "5.0"}, {"fixed": "5.1"}), [], A),
        # explicit versions list, and PEP 440 equality there (1.0 == 1.0.0)
        ("1.0.0", "PyPI", [], ["1.0"], A),
        ("2.3", "Maven", [], ["2.3"], A),
        ("2.4", "Maven", [], ["2.3"], N),
        # what has no order here is undetermined, never a false all-clear
        ("2.4", "Maven", eco({"introduced": "0"}, {"fixed": "3.0"}), [], U),
        ("1.0", "PyPI", [{"type": "GIT", "repo": "https://example.org/r",
                          "events": [{"introduced": "0"}]}], [], U),
        ("not a version", "PyPI", eco({"introduced": "0"}, {"fixed": "1.0"}), [], U),
        # next to a version range, a GIT range does not make a released version undetermined
        ("2.0", "PyPI", [*eco({"introduced": "0"}, {"fixed": "1.0"}),
                         {"type": "GIT", "repo": "https://example.org/r",
                          "events": [{"introduced": "0"}]}], [], N),
    ],
)  # fmt: skip
def test_boundaries(
    version: str,
    ecosystem: str,
    ranges: list[dict[str, Any]],
    versions: list[str],
    expected: Verdict,
) -> None:
    assert evaluate(version, ecosystem, ranges, versions) is expected
    # The same answer from the stored index of the list that checks use.
    index = version_index(ecosystem, versions)
    assert evaluate(version, ecosystem, ranges, index=index) is expected


def test_fixed_versions_are_listed_once_in_order() -> None:
    ranges = eco({"introduced": "0"}, {"fixed": "1.2"}) + eco({"introduced": "2.0"},
                                                              {"fixed": "2.1"}, {"fixed": "1.2"})  # fmt: skip
    assert fixed_versions(ranges) == ["1.2", "2.1"]
