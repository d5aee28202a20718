"""Defender checks: which components of an inventory do the advisories the caller may see affect?

Components are matched by ecosystem and name (as the ecosystem compares names) against the
affected packages of imported advisories that are not withdrawn, and of our own published
advisories (their products named by a purl of an OSV ecosystem), then by version with OSV's
evaluation in each ecosystem's own order (`_versions`).
"""

from __future__ import annotations

import functools
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from ..accounts.models import Scope
from ..clearinghouse import _standards
from ..clearinghouse._visibility import imported_audience
from ..clearinghouse.advisories import published_documents
from ..errors import InvalidInput
from ..interop._osv_export import osv_package
from ..interop.models import AffectedPackage, ImportedAdvisory
from ..runtime import Context
from ._sbom import Component, Inventory
from ._versions import Verdict, evaluate, fixed_versions, normalise_name, version_index
from .schemas import CheckOut, ComponentOut, FindingOut, SeverityOut, SkippedOut

_CHUNK = 500


@functools.lru_cache(maxsize=4096)
def _severity(vector: str | None) -> SeverityOut | None:
    """A CVSS vector scored (once per distinct vector), or None if absent or invalid."""
    if vector is None:
        return None
    try:
        score = _standards.parse_cvss(vector, "severity")
    except InvalidInput:
        return None
    return SeverityOut(vector=score.vector, base_score=score.base_score, rating=score.severity)


def _base(ecosystem: str) -> str:
    return ecosystem.split(":", 1)[0]


@dataclass(frozen=True)
class _Candidate:
    """An affected package of an advisory, without the advisory's record."""

    advisory_id: str
    ecosystem: str
    ranges: list[Any]
    version_index: str


@dataclass
class _Verdicts:
    """Each (component, advisory) pair found affected or undetermined, and the versions that
    fix it. A candidate is evaluated as soon as it is read and dropped unless it matches, so
    that a check never holds thousands of decoded ranges at once: they were most of what the
    garbage collector had to walk (bench/sbom_check.py)."""

    wanted: dict[tuple[str, str], list[Component]]
    found: dict[tuple[str, str], tuple[Verdict, Component, str, list[str]]] = field(
        default_factory=dict
    )

    def consider(self, key: tuple[str, str], candidate: _Candidate) -> None:
        for component in self.wanted.get(key, ()):
            verdict = evaluate(
                component.version,
                candidate.ecosystem,
                candidate.ranges,
                index=candidate.version_index,
            )
            if verdict is Verdict.NOT_AFFECTED:
                continue
            pair = (component.ref, candidate.advisory_id)
            seen = self.found.get(pair)
            if seen is None or (seen[0] is Verdict.UNDETERMINED and verdict is Verdict.AFFECTED):
                fixed = fixed_versions(candidate.ranges)
                self.found[pair] = (verdict, component, candidate.advisory_id, fixed)


def check(ctx: Context, inventory: Inventory) -> CheckOut:
    """Match `inventory` against the advisories the caller may see."""
    ctx.actor.require_scope(Scope.READ)
    components = inventory.components
    wanted: dict[tuple[str, str], list[Component]] = defaultdict(list)
    for component in components:
        key = (component.ecosystem, normalise_name(component.ecosystem, component.name))
        wanted[key].append(component)
    verdicts = _Verdicts(wanted)
    names = sorted({name for _, name in wanted})
    # Core rows, not ORM ones: thousands of candidate rows are read per check, and building ORM
    # rows for them was a fifth of its time (bench/sbom_check.py).
    connection = ctx.session.connection()
    for start in range(0, len(names), _CHUNK):
        rows = connection.execute(
            select(
                AffectedPackage.advisory_id,
                AffectedPackage.ecosystem,
                AffectedPackage.name,
                AffectedPackage.ranges,
                AffectedPackage.version_index,
            )
            .join(ImportedAdvisory, ImportedAdvisory.id == AffectedPackage.advisory_id)
            .where(
                AffectedPackage.name.in_(names[start : start + _CHUNK]),
                ImportedAdvisory.withdrawn.is_(None),
                imported_audience(ctx.actor),
            )
        )
        for advisory_id, ecosystem, name, ranges, index in rows:
            verdicts.consider(
                (_base(ecosystem), name), _Candidate(advisory_id, ecosystem, ranges, index)
            )
    ours = _own_advisories(ctx, verdicts)
    advisories = ours | _advisories(
        ctx, {advisory_id for _, advisory_id in verdicts.found if advisory_id not in ours}
    )
    findings: dict[Verdict, list[FindingOut]] = {Verdict.AFFECTED: [], Verdict.UNDETERMINED: []}
    for verdict, component, advisory_id, fixed in verdicts.found.values():
        findings[verdict].append(_finding(component, advisories[advisory_id], fixed))
    return CheckOut(
        format=inventory.format,
        components=len(components),
        affected=sorted(findings[Verdict.AFFECTED], key=_order),
        undetermined=sorted(findings[Verdict.UNDETERMINED], key=_order),
        skipped=[SkippedOut(ref=s.ref, name=s.name, reason=s.reason) for s in inventory.skipped],
    )


@dataclass(frozen=True)
class _Advisory:
    record_id: str
    aliases: list[str]
    summary: str | None
    severity: SeverityOut | None


def _own_advisories(ctx: Context, verdicts: _Verdicts) -> dict[str, _Advisory]:
    """Consider the packages of our published advisories that the inventory names (keyed by
    advisory number), and return what a finding shows of those advisories."""
    found: dict[str, _Advisory] = {}
    for document in published_documents(ctx):
        for product in document.affected:
            package = osv_package(product.purl) if product.purl else None
            if package is None:
                continue
            ecosystem = package["ecosystem"]
            key = (_base(ecosystem), normalise_name(ecosystem, package["name"]))
            if key not in verdicts.wanted:
                continue
            index = version_index(ecosystem, product.versions)
            verdicts.consider(key, _Candidate(document.id, ecosystem, product.ranges, index))
            vector = next(
                (c.vector for v in document.vulnerabilities for c in (v.cvss_v3, v.cvss_v4) if c),
                None,
            )
            found[document.id] = _Advisory(
                document.id, document.aliases, document.title, _severity(vector)
            )
    return found


def _advisories(ctx: Context, ids: set[str]) -> dict[str, _Advisory]:
    """What a finding shows of each matched advisory, read once per advisory."""
    found: dict[str, _Advisory] = {}
    ordered = sorted(ids)
    for start in range(0, len(ordered), _CHUNK):
        rows = ctx.session.execute(
            select(
                ImportedAdvisory.id,
                ImportedAdvisory.record_id,
                ImportedAdvisory.summary,
                ImportedAdvisory.aliases,
                ImportedAdvisory.cvss_vector,
            ).where(ImportedAdvisory.id.in_(ordered[start : start + _CHUNK]))
        ).all()
        for advisory_id, record_id, summary, aliases, vector in rows:
            found[advisory_id] = _Advisory(record_id, aliases, summary, _severity(vector))
    return found


def _order(finding: FindingOut) -> tuple[str, str, str]:
    return (finding.component.name.lower(), finding.component.version, finding.advisory)


def _finding(component: Component, advisory: _Advisory, fixed: list[str]) -> FindingOut:
    return FindingOut(
        component=ComponentOut(
            ref=component.ref,
            ecosystem=component.ecosystem,
            name=component.name,
            version=component.version,
            purl=component.purl,
        ),
        advisory=advisory.record_id,
        aliases=advisory.aliases,
        summary=advisory.summary,
        severity=advisory.severity,
        fixed=fixed,
    )
