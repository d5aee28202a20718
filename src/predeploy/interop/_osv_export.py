"""A published predeploy advisory as an OSV 1.7 record: its packages (those named by purl), their
ranges and versions, CVSS severities, references and credits. CPE-named products and AI models
have no OSV package, so an advisory with neither a purl is not an OSV record."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from packageurl import PackageURL

from ..clearinghouse.schemas import AdvisoryAffected, AdvisoryDocument

OSV_SCHEMA_VERSION = "1.7.0"
UNREGISTERED_PREFIX = "x_"
"""predeploy is not one of OSV's registered home databases: OSV ids of unregistered databases
start with `x_` (`x_PDXA-2026-0001`)."""

_ECOSYSTEMS = {
    "pypi": "PyPI",
    "npm": "npm",
    "golang": "Go",
    "cargo": "crates.io",
    "maven": "Maven",
    "gem": "RubyGems",
    "nuget": "NuGet",
    "composer": "Packagist",
    "hex": "Hex",
    "pub": "Pub",
    "swift": "SwiftURL",
    "hackage": "Hackage",
    "cran": "CRAN",
}
"""purl types and the OSV ecosystem each names."""


def osv_timestamp(when: datetime) -> str:
    """RFC 3339 in UTC with a `Z`, as OSV writes it."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def osv_package(purl: str) -> dict[str, str] | None:
    """The OSV package a purl names, or None if its type has no OSV ecosystem."""
    parsed = PackageURL.from_string(purl)
    ecosystem = _ECOSYSTEMS.get(parsed.type)
    if ecosystem is None:
        return None
    if parsed.type == "maven":
        name = f"{parsed.namespace}:{parsed.name}"
    elif (parsed.type == "npm" and parsed.namespace) or parsed.namespace:
        name = f"{parsed.namespace}/{parsed.name}"
    else:
        name = parsed.name
    bare = PackageURL(type=parsed.type, namespace=parsed.namespace, name=parsed.name).to_string()
    return {"ecosystem": ecosystem, "name": name, "purl": bare}


def osv_affected(affected: list[AdvisoryAffected]) -> list[dict[str, Any]]:
    """The products that OSV can describe: those named by a purl of a known ecosystem."""
    out = []
    for product in affected:
        package = osv_package(product.purl) if product.purl else None
        if package is None:
            continue
        entry: dict[str, Any] = {"package": package}
        if product.ranges:
            entry["ranges"] = product.ranges
        if product.versions:
            entry["versions"] = product.versions
        out.append(entry)
    return out


def advisory_to_osv(
    document: AdvisoryDocument, published: datetime, modified: datetime
) -> dict[str, Any]:
    """`document` as an OSV record; call only when `osv_affected` finds a package."""
    severity = []
    for vulnerability in document.vulnerabilities:
        if vulnerability.cvss_v3 is not None:
            severity.append({"type": "CVSS_V3", "score": vulnerability.cvss_v3.vector})
        if vulnerability.cvss_v4 is not None:
            severity.append({"type": "CVSS_V4", "score": vulnerability.cvss_v4.vector})
    record: dict[str, Any] = {
        "schema_version": OSV_SCHEMA_VERSION,
        "id": f"{UNREGISTERED_PREFIX}{document.id}",
        "modified": osv_timestamp(modified),
        "published": osv_timestamp(published),
        "aliases": document.aliases,
        "summary": document.title,
        "details": "\n\n".join(
            part for part in (document.summary, document.details, document.remediation) if part
        ),
        "affected": osv_affected(document.affected),
        "references": [r.model_dump() for r in document.references],
        "credits": [
            {"name": c.name, "type": c.type, **({"contact": c.contact} if c.contact else {})}
            for c in document.credits
        ],
        "database_specific": {
            "tlp": document.tlp.value,
            "case": document.case,
            "revision": document.revision,
            "cwe_ids": sorted({v.cwe for v in document.vulnerabilities if v.cwe}),
        },
    }
    if severity:
        record["severity"] = severity
    return record
