"""Defender checks: which components of an inventory do the advisories the caller may see affect?

Components are matched by ecosystem and name (as the ecosystem compares names) against the
affected packages of imported advisories that are not withdrawn, then by version with OSV's
evaluation in each ecosystem's own order (`_versions`).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import select

from ..accounts.models import Scope
from ..clearinghouse import _standards
from ..clearinghouse._visibility import imported_audience
from ..errors import InvalidInput
from ..interop.models import AffectedPackage, ImportedAdvisory
from ..runtime import Context
from ._sbom import Component, Inventory
from ._versions import Verdict, evaluate, fixed_versions, normalise_name
from .schemas import CheckOut, ComponentOut, FindingOut, SeverityOut, SkippedOut

_CHUNK = 500


def _severity(record: dict[str, Any]) -> SeverityOut | None:
    for entry in record.get("severity") or []:
        if entry.get("type") in ("CVSS_V3", "CVSS_V4"):
            try:
                score = _standards.parse_cvss(entry["score"], "severity")
            except InvalidInput:
                continue
            return SeverityOut(vector=score.vector, base_score=score.base_score,
                               rating=score.severity)  # fmt: skip
    return None


def _base(ecosystem: str) -> str:
    return ecosystem.split(":", 1)[0]


def check(ctx: Context, inventory: Inventory) -> CheckOut:
    """Match `inventory` against the advisories the caller may see."""
    ctx.actor.require_scope(Scope.READ)
    components = inventory.components
    wanted: dict[tuple[str, str], list[Component]] = defaultdict(list)
    for component in components:
        key = (component.ecosystem, normalise_name(component.ecosystem, component.name))
        wanted[key].append(component)
    names = sorted({name for _, name in wanted})
    candidates: dict[tuple[str, str], list[tuple[AffectedPackage, ImportedAdvisory]]] = defaultdict(
        list
    )
    for start in range(0, len(names), _CHUNK):
        rows = ctx.session.execute(
            select(AffectedPackage, ImportedAdvisory)
            .join(ImportedAdvisory, ImportedAdvisory.id == AffectedPackage.advisory_id)
            .where(
                AffectedPackage.name.in_(names[start : start + _CHUNK]),
                ImportedAdvisory.withdrawn.is_(None),
                imported_audience(ctx.actor),
            )
        ).all()
        for package, advisory in rows:
            candidates[(_base(package.ecosystem), package.name)].append((package, advisory))
    affected: dict[tuple[str, str], FindingOut] = {}
    undetermined: dict[tuple[str, str], FindingOut] = {}
    for key, found in wanted.items():
        for package, advisory in candidates.get(key, []):
            for component in found:
                verdict = evaluate(
                    component.version, package.ecosystem, package.ranges, package.versions
                )
                if verdict is Verdict.NOT_AFFECTED:
                    continue
                target = affected if verdict is Verdict.AFFECTED else undetermined
                target.setdefault(
                    (component.ref, advisory.record_id), _finding(component, package, advisory)
                )
    for key in affected:
        undetermined.pop(key, None)
    return CheckOut(
        format=inventory.format,
        components=len(components),
        affected=sorted(affected.values(), key=_order),
        undetermined=sorted(undetermined.values(), key=_order),
        skipped=[SkippedOut(ref=s.ref, name=s.name, reason=s.reason) for s in inventory.skipped],
    )


def _order(finding: FindingOut) -> tuple[str, str, str]:
    return (finding.component.name.lower(), finding.component.version, finding.advisory)


def _finding(
    component: Component, package: AffectedPackage, advisory: ImportedAdvisory
) -> FindingOut:
    return FindingOut(
        component=ComponentOut(
            ref=component.ref,
            ecosystem=component.ecosystem,
            name=component.name,
            version=component.version,
            purl=component.purl,
        ),
        advisory=advisory.record_id,
        aliases=list(advisory.record.get("aliases") or []),
        summary=advisory.summary,
        severity=_severity(advisory.record),
        fixed=fixed_versions(package.ranges),
    )
