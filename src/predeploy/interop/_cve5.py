"""A published advisory's CVE as a CVE JSON 5.1 record with its CNA container.

CVE guidance keeps CVEs for the software around a model, not for a model's statistical
behaviour: only products named by a purl or a CPE go in `affected`; an advisory with neither is
not a CVE record. Each OSV range becomes CVE version entries (`introduced`..`fixed` as
`lessThan`, `last_affected` as `lessThanOrEqual`, an open range as `lessThan: "*"`), in the
ecosystem's `versionType`; every other version is `unaffected` (`defaultStatus`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..clearinghouse.schemas import AdvisoryAffected, AdvisoryDocument, AdvisoryVulnerability, Cvss
from ._osv_export import osv_package

DATA_VERSION = "5.1"

_COLLECTIONS = {
    "PyPI": "https://pypi.org",
    "npm": "https://www.npmjs.com",
    "Go": "https://pkg.go.dev",
    "crates.io": "https://crates.io",
    "Maven": "https://repo.maven.apache.org/maven2",
    "RubyGems": "https://rubygems.org",
    "NuGet": "https://www.nuget.org",
    "Packagist": "https://packagist.org",
    "Hex": "https://hex.pm",
    "Pub": "https://pub.dev",
    "Hackage": "https://hackage.haskell.org",
    "CRAN": "https://cran.r-project.org",
}
"""Each OSV ecosystem's package collection, as CVE's `collectionURL` names it."""
_VERSION_TYPES = {"PyPI": "python", "Maven": "maven", "RubyGems": "rubygems", "NuGet": "nuget"}
_CREDIT_TYPES = {
    "FINDER": "finder",
    "REPORTER": "reporter",
    "ANALYST": "analyst",
    "COORDINATOR": "coordinator",
    "REMEDIATION_DEVELOPER": "remediation developer",
    "REMEDIATION_REVIEWER": "remediation reviewer",
    "REMEDIATION_VERIFIER": "remediation verifier",
    "TOOL": "tool",
    "SPONSOR": "sponsor",
    "OTHER": "other",
}


def cve_ids(document: AdvisoryDocument) -> list[str]:
    """The CVE ids of the advisory's vulnerabilities."""
    return [v.cve_id for v in document.vulnerabilities if v.cve_id]


def _timestamp(when: datetime) -> str:
    return when.isoformat(timespec="seconds")


def _version_entries(
    ranges: list[dict[str, Any]], versions: list[str], version_type: str
) -> list[dict[str, str]]:
    entries: list[dict[str, str]] = []
    for range_ in ranges:
        kind = "git" if range_.get("type") == "GIT" else version_type
        start: str | None = None
        for event in range_.get("events", []):
            ((name, value),) = event.items()
            if name == "introduced":
                if start is not None:
                    entries.append(_open(start, kind))
                start = value
            elif name in ("fixed", "last_affected", "limit") and start is not None:
                bound = "lessThanOrEqual" if name == "last_affected" else "lessThan"
                entries.append({"version": start, "status": "affected", "versionType": kind,
                                bound: value})  # fmt: skip
                start = None
        if start is not None:
            entries.append(_open(start, kind))
    entries.extend({"version": version, "status": "affected"} for version in versions)
    return entries


def _open(start: str, kind: str) -> dict[str, str]:
    return {"version": start, "status": "affected", "versionType": kind, "lessThan": "*"}


def cve_affected(affected: list[AdvisoryAffected]) -> list[dict[str, Any]]:
    """The products a CVE record can name: purl packages of a known collection, CPE names."""
    out = []
    for product in affected:
        entry: dict[str, Any]
        if product.purl is not None:
            package = osv_package(product.purl)
            if package is None or package["ecosystem"] not in _COLLECTIONS:
                continue
            ecosystem = package["ecosystem"]
            entry = {"collectionURL": _COLLECTIONS[ecosystem], "packageName": package["name"]}
            version_type = _VERSION_TYPES.get(ecosystem, "semver")
        elif product.cpe is not None:
            parts = product.cpe.split(":")
            entry = {"vendor": parts[3], "product": parts[4], "cpes": [product.cpe]}
            version_type = "custom"
        else:
            continue
        entry["defaultStatus"] = "unaffected"
        versions = _version_entries(product.ranges, product.versions, version_type)
        if versions:
            entry["versions"] = versions
        out.append(entry)
    return out


def _metric(cvss: Cvss) -> dict[str, Any]:
    key = {"3.0": "cvssV3_0", "3.1": "cvssV3_1", "4.0": "cvssV4_0"}[cvss.version]
    return {key: {"version": cvss.version, "vectorString": cvss.vector,
                  "baseScore": cvss.base_score, "baseSeverity": cvss.severity.upper()}}  # fmt: skip


def _vulnerability(document: AdvisoryDocument, cve_id: str) -> AdvisoryVulnerability:
    return next(v for v in document.vulnerabilities if v.cve_id == cve_id)


def cna_container(
    document: AdvisoryDocument, cve_id: str, published: datetime, org_id: str, short_name: str
) -> dict[str, Any]:
    """The CNA container of `cve_id` (one of `cve_ids(document)`)."""
    vulnerability = _vulnerability(document, cve_id)
    description = "\n\n".join(p for p in (document.summary, document.details) if p)[:4096]
    container: dict[str, Any] = {
        "providerMetadata": {"orgId": org_id, "shortName": short_name},
        "title": vulnerability.title[:256],
        "datePublic": _timestamp(published),
        "descriptions": [{"lang": "en", "value": description}],
        "affected": cve_affected(document.affected),
        "references": [{"url": r.url} for r in document.references],
        "solutions": [{"lang": "en", "value": document.remediation[:4096]}],
    }
    if vulnerability.cwe:
        container["problemTypes"] = [{"descriptions": [
            {"lang": "en", "cweId": vulnerability.cwe, "description": vulnerability.cwe,
             "type": "CWE"}]}]  # fmt: skip
    metrics = [_metric(c) for c in (vulnerability.cvss_v3, vulnerability.cvss_v4) if c]
    if metrics:
        container["metrics"] = metrics
    if document.credits:
        container["credits"] = [{"lang": "en", "value": c.name, "type": _CREDIT_TYPES[c.type]}
                                for c in document.credits]  # fmt: skip
    return container


def cve_record(
    document: AdvisoryDocument,
    cve_id: str,
    published: datetime,
    updated: datetime,
    org_id: str,
    short_name: str,
) -> dict[str, Any]:
    """The whole CVE JSON 5.1 record (state PUBLISHED) around the CNA container."""
    return {
        "dataType": "CVE_RECORD",
        "dataVersion": DATA_VERSION,
        "cveMetadata": {
            "cveId": cve_id,
            "assignerOrgId": org_id,
            "assignerShortName": short_name,
            "state": "PUBLISHED",
            "datePublished": _timestamp(published),
            "dateUpdated": _timestamp(updated),
        },
        "containers": {"cna": cna_container(document, cve_id, published, org_id, short_name)},
    }
