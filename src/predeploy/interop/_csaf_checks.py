"""The CSAF 2.0 mandatory tests (section 6.1 of the standard) that apply to what predeploy emits:
product ids defined once and only referenced when defined, no contradicting product status, one
score of a CVSS version per product, CVSS scores consistent with their vectors, a sorted and
complete revision history that ends at the document's version, a TLP label, and the profile
tests of `csaf_security_advisory` and `csaf_vex`.

Each problem names its test (`6.1.6`) and where it is, so that an export can be refused rather
than published invalid.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from cvss import CVSS3, CVSSError  # type: ignore[import-untyped]

_AFFECTED = ("first_affected", "known_affected", "last_affected")
_NOT_AFFECTED = ("known_not_affected",)
_FIXED = ("first_fixed", "fixed")
_INVESTIGATING = ("under_investigation",)
_VEX_GROUPS = ("fixed", "known_affected", "known_not_affected", "under_investigation")


def _branch_products(branches: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for branch in branches:
        if "product" in branch:
            yield branch["product"]
        yield from _branch_products(branch.get("branches", []))


def _defined(tree: dict[str, Any]) -> list[str]:
    products = [
        *_branch_products(tree.get("branches", [])),
        *tree.get("full_product_names", []),
        *(r["full_product_name"] for r in tree.get("relationships", [])),
    ]
    return [p["product_id"] for p in products]


def _references(vulnerability: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for group, ids in vulnerability.get("product_status", {}).items():
        for product_id in ids:
            yield f"product_status.{group}", product_id
    for index, score in enumerate(vulnerability.get("scores", [])):
        for product_id in score.get("products", []):
            yield f"scores.{index}", product_id
    for key in ("remediations", "threats"):
        for index, item in enumerate(vulnerability.get(key, [])):
            for product_id in item.get("product_ids", []):
                yield f"{key}.{index}", product_id


def _cvss_problems(where: str, cvss: dict[str, Any]) -> list[str]:
    try:
        parsed = CVSS3(cvss["vectorString"])
    except CVSSError as exc:
        return [f"6.1.8 {where}: invalid CVSS vector: {exc}"]
    problems = []
    if float(parsed.base_score) != float(cvss["baseScore"]):
        problems.append(f"6.1.9 {where}: baseScore {cvss['baseScore']} is not the vector's "
                        f"{parsed.base_score}")  # fmt: skip
    if parsed.severities()[0].upper() != cvss["baseSeverity"]:
        problems.append(f"6.1.9 {where}: baseSeverity {cvss['baseSeverity']} is not the "
                        f"vector's {parsed.severities()[0].upper()}")  # fmt: skip
    return problems


def mandatory_problems(document: dict[str, Any], *, require_tlp: bool = True) -> list[str]:
    """Every failed mandatory test, as `6.1.N where: what`; empty when the document passes.
    `require_tlp` adds predeploy's own rule that every document it emits carries a TLP label
    (CSAF makes the label optional)."""
    problems: list[str] = []
    tree = document.get("product_tree", {})
    defined = _defined(tree)
    for product_id in sorted({p for p in defined if defined.count(p) > 1}):
        problems.append(f"6.1.2 product_tree: {product_id} is defined more than once")
    known = set(defined)
    for index, vulnerability in enumerate(document.get("vulnerabilities", [])):
        where = f"vulnerabilities.{index}"
        for place, product_id in _references(vulnerability):
            if product_id not in known:
                problems.append(f"6.1.1 {where}.{place}: {product_id} is not defined")
        status = vulnerability.get("product_status", {})
        groups = [set().union(*(status.get(g, []) for g in names))
                  for names in (_AFFECTED, _NOT_AFFECTED, _FIXED, _INVESTIGATING)]  # fmt: skip
        for first in range(len(groups)):
            for second in range(first + 1, len(groups)):
                for product_id in sorted(groups[first] & groups[second]):
                    problems.append(f"6.1.6 {where}.product_status: {product_id} has "
                                    "contradicting statuses")  # fmt: skip
        versions_seen: set[tuple[str, str]] = set()
        for number, score in enumerate(vulnerability.get("scores", [])):
            cvss = score.get("cvss_v3")
            if cvss is None:
                continue
            problems.extend(_cvss_problems(f"{where}.scores.{number}.cvss_v3", cvss))
            for product_id in score.get("products", []):
                key = (product_id, cvss["version"])
                if key in versions_seen:
                    problems.append(f"6.1.7 {where}.scores.{number}: {product_id} has two "
                                    f"CVSS {cvss['version']} scores")  # fmt: skip
                versions_seen.add(key)
    meta = document.get("document", {})
    problems.extend(_tracking_problems(meta))
    if require_tlp and not meta.get("distribution", {}).get("tlp", {}).get("label"):
        problems.append("document.distribution.tlp.label: no TLP label")
    problems.extend(_profile_problems(document))
    return problems


def _tracking_problems(meta: dict[str, Any]) -> list[str]:
    problems = []
    tracking = meta.get("tracking", {})
    history = tracking.get("revision_history", [])
    integers = all(str(r["number"]).isdigit() for r in history)
    numbers = [_version(str(r["number"])) for r in history]
    dates = [r["date"] for r in history]
    if numbers != sorted(numbers) or dates != sorted(dates):
        problems.append("6.1.14 document.tracking.revision_history: not sorted")
    if len(set(numbers)) != len(numbers):
        problems.append("6.1.22 document.tracking.revision_history: a number appears twice")
    if integers and sorted(numbers) != [(n, 1) for n in range(1, len(numbers) + 1)]:
        problems.append("6.1.21 document.tracking.revision_history: a version is missing")
    latest = max(history, key=lambda r: _version(str(r["number"])), default=None)
    if latest is not None and str(latest["number"]) != tracking.get("version"):
        problems.append("6.1.16 document.tracking.version: not the latest revision's number")
    return problems


def _version(text: str) -> tuple[int, ...]:
    """A CSAF version (an integer, or semantic `major.minor.patch[-pre]`) as a sortable key;
    a pre-release sorts before its release, which is what these tests need of it."""
    core, _, pre = text.partition("-")
    parts = tuple(int(p) for p in core.split("+")[0].split(".") if p.isdigit())
    return (*parts, 0 if pre else 1)


def _profile_problems(document: dict[str, Any]) -> list[str]:
    category = document.get("document", {}).get("category")
    vulnerabilities = document.get("vulnerabilities", [])
    problems = []
    if category in ("csaf_security_advisory", "csaf_vex") and not document.get("product_tree"):
        problems.append("6.1.27.4 product_tree: missing")
    for index, vulnerability in enumerate(vulnerabilities):
        where = f"vulnerabilities.{index}"
        status = vulnerability.get("product_status", {})
        if category == "csaf_security_advisory":
            if not vulnerability.get("notes"):
                problems.append(f"6.1.27.3 {where}.notes: missing")
            if not status:
                problems.append(f"6.1.27.5 {where}.product_status: missing")
        if category != "csaf_vex":
            continue
        if not any(status.get(g) for g in _VEX_GROUPS):
            problems.append(f"6.1.27.6 {where}.product_status: none of {', '.join(_VEX_GROUPS)}")
        if not (vulnerability.get("cve") or vulnerability.get("ids")):
            problems.append(f"6.1.27.8 {where}: neither cve nor ids")
        impact = {p for t in vulnerability.get("threats", []) if t.get("category") == "impact"
                  for p in t.get("product_ids", [])}  # fmt: skip
        for product_id in status.get("known_not_affected", []):
            if product_id not in impact:
                problems.append(f"6.1.27.9 {where}: {product_id} has no impact statement")
        actions = {p for r in vulnerability.get("remediations", [])
                   for p in r.get("product_ids", [])}  # fmt: skip
        for product_id in status.get("known_affected", []):
            if product_id not in actions:
                problems.append(f"6.1.27.10 {where}: {product_id} has no action statement")
    return problems
