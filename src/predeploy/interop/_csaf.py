"""A published advisory as a CSAF 2.0 document: `csaf_security_advisory`, or `csaf_vex` for the
vendors' statuses.

The product tree has, per affected product, its vendor, its name, the affected version range (as
a `vers:` string, OSV's `introduced`..`fixed` pairs) and each fixed version; an AI model is a
product whose `model_numbers` name its version. Each vendor that made an approved statement is a
product too (`<vendor>: products named in its statement`), with the status it gave. CSAF 2.0
knows only the TLP labels WHITE, GREEN, AMBER and RED: CLEAR becomes WHITE, and AMBER+STRICT
becomes AMBER with the restriction written in `distribution.text`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from packageurl import PackageURL

from .. import __version__
from ..clearinghouse.models import Tlp, VendorStatus
from ..clearinghouse.schemas import AdvisoryAffected, AdvisoryDocument, Cvss

CSAF_TLP = {
    Tlp.CLEAR: "WHITE",
    Tlp.GREEN: "GREEN",
    Tlp.AMBER: "AMBER",
    Tlp.AMBER_STRICT: "AMBER",
    Tlp.RED: "RED",
}
AMBER_STRICT_TEXT = (
    "TLP:AMBER+STRICT. CSAF 2.0 has no AMBER+STRICT label, so this document is marked AMBER: "
    "recipients may share it only within their own organisation, not with its clients."
)
_VENDOR_STATUS = {
    VendorStatus.AFFECTED: "known_affected",
    VendorStatus.NOT_AFFECTED: "known_not_affected",
    VendorStatus.FIXED: "fixed",
    VendorStatus.UNDER_INVESTIGATION: "under_investigation",
}


@cache
def _cwe_database() -> Any:
    from cwe2.database import Database

    return Database()


def cwe_name(cwe: str) -> str | None:
    """MITRE's name of a `CWE-NNN` id (from `cwe2`'s offline catalogue), or None if unknown."""
    from cwe2.database import InvalidCWEError

    try:
        name: str = _cwe_database().get(int(cwe.removeprefix("CWE-"))).name
    except (InvalidCWEError, ValueError):
        return None
    return name


@dataclass(frozen=True)
class Revision:
    number: int
    date: datetime
    summary: str


def _timestamp(when: datetime) -> str:
    return when.isoformat(timespec="seconds")


def _vers(product: AdvisoryAffected, scheme: str) -> str | None:
    """The affected range as a `vers:` string (`vers:pypi/>=1.0|<1.2`), or None."""
    constraints: list[str] = []
    for range_ in product.ranges:
        if range_.get("type") == "GIT":
            continue
        for event in range_.get("events", []):
            ((name, value),) = event.items()
            if name == "introduced" and value != "0":
                constraints.append(f">={value}")
            elif name in ("fixed", "limit") and value != "*":
                constraints.append(f"<{value}")
            elif name == "last_affected":
                constraints.append(f"<={value}")
    if not constraints:
        return f"vers:{scheme}/*" if product.ranges else None
    return f"vers:{scheme}/{'|'.join(constraints)}"


def _fixed(product: AdvisoryAffected) -> list[str]:
    return [
        event["fixed"]
        for range_ in product.ranges
        if range_.get("type") != "GIT"
        for event in range_.get("events", [])
        if "fixed" in event
    ]


class _Tree:
    """Builds the product tree and remembers each product's id by role."""

    def __init__(self) -> None:
        self.vendors: dict[str, dict[str, Any]] = {}
        self.count = 0
        self.affected: list[str] = []
        self.fixed: list[str] = []
        self.vendor_products: dict[str, str] = {}

    def _id(self) -> str:
        self.count += 1
        return f"CSAFPID-{self.count:04d}"

    def _product_branch(self, vendor: str, product: str) -> list[dict[str, Any]]:
        branch = self.vendors.setdefault(
            vendor, {"category": "vendor", "name": vendor, "branches": []}
        )
        for child in branch["branches"]:
            if child["name"] == product:
                versions: list[dict[str, Any]] = child["branches"]
                return versions
        child = {"category": "product_name", "name": product, "branches": []}
        branch["branches"].append(child)
        return child["branches"]  # type: ignore[no-any-return]

    def leaf(
        self, vendor: str, product: str, category: str, name: str, helper: dict[str, Any] | None
    ) -> str:
        product_id = self._id()
        leaf: dict[str, Any] = {"name": f"{vendor} {product} {name}", "product_id": product_id}
        if helper:
            leaf["product_identification_helper"] = helper
        self._product_branch(vendor, product).append(
            {"category": category, "name": name, "product": leaf}
        )
        return product_id

    def add(self, product: AdvisoryAffected) -> None:
        if product.model is not None:
            version = product.model.version or "unspecified"
            product_id = self.leaf(product.model.developer, product.model.model,
                                   "product_version", version, {"model_numbers": [version]})  # fmt: skip
            self.affected.append(product_id)
            return
        if product.purl is not None:
            parsed = PackageURL.from_string(product.purl)
            vendor, name, scheme = parsed.namespace or parsed.type, parsed.name, parsed.type

            def helper(version: str | None) -> dict[str, Any]:
                purl = PackageURL(type=parsed.type, namespace=parsed.namespace,
                                  name=parsed.name, version=version)  # fmt: skip
                return {"purl": purl.to_string()}
        else:
            assert product.cpe is not None
            parts = product.cpe.split(":")
            vendor, name, scheme = parts[3], parts[4], "generic"

            def helper(version: str | None) -> dict[str, Any]:
                cpe = product.cpe or ""
                if version is not None:
                    fields = cpe.split(":")
                    fields[5] = version.replace(":", "\\:")
                    cpe = ":".join(fields)
                return {"cpe": cpe}

        vers = _vers(product, scheme)
        if vers is not None:
            self.affected.append(
                self.leaf(vendor, name, "product_version_range", vers, helper(None))
            )
        for version in product.versions:
            self.affected.append(self.leaf(vendor, name, "product_version", version,
                                           helper(version)))  # fmt: skip
        for version in _fixed(product):
            self.fixed.append(self.leaf(vendor, name, "product_version", version,
                                        helper(version)))  # fmt: skip

    def vendor(self, vendor: str) -> str:
        if vendor not in self.vendor_products:
            self.vendor_products[vendor] = self.leaf(
                vendor, "products named in its statement", "product_version", "all", None
            )
        return self.vendor_products[vendor]

    def as_json(self) -> dict[str, Any]:
        def prune(branch: dict[str, Any]) -> dict[str, Any]:
            children = [prune(c) for c in branch.get("branches", [])]
            out = {k: v for k, v in branch.items() if k != "branches"}
            if children:
                out["branches"] = children
            return out

        return {"branches": [prune(b) for b in self.vendors.values()]}


def _cvss_v3(cvss: Cvss) -> dict[str, Any]:
    return {"version": cvss.version, "vectorString": cvss.vector,
            "baseScore": cvss.base_score, "baseSeverity": cvss.severity.upper()}  # fmt: skip


def advisory_to_csaf(
    document: AdvisoryDocument,
    *,
    vex: bool,
    publisher_name: str,
    publisher_namespace: str,
    revisions: list[Revision],
) -> dict[str, Any]:
    """`document` as CSAF 2.0 (`csaf_vex` if `vex`, else `csaf_security_advisory`)."""
    tree = _Tree()
    for product in document.affected:
        tree.add(product)
    statuses: dict[str, dict[str, list[str]]] = {}
    statements: dict[str, list[dict[str, Any]]] = {}
    for statement in document.vendor_statements:
        group = _VENDOR_STATUS.get(statement.status)
        if group is None:
            continue
        product_id = tree.vendor(statement.vendor)
        statuses.setdefault(statement.vulnerability_id, {}).setdefault(group, []).append(product_id)
        statements.setdefault(statement.vulnerability_id, []).append(
            {
                "group": group,
                "product_id": product_id,
                "vendor": statement.vendor,
                "text": statement.statement,
            }
        )
    latest = revisions[-1]
    tlp = document.tlp
    distribution: dict[str, Any] = {
        "tlp": {"label": CSAF_TLP[tlp], "url": "https://www.first.org/tlp/"}
    }
    if tlp is Tlp.AMBER_STRICT:
        distribution["text"] = AMBER_STRICT_TEXT
    notes = [{"category": "summary", "title": "Summary", "text": document.summary}]
    if document.details:
        notes.append({"category": "details", "title": "Details", "text": document.details})
    csaf: dict[str, Any] = {
        "document": {
            "category": "csaf_vex" if vex else "csaf_security_advisory",
            "csaf_version": "2.0",
            "lang": "en",
            "title": document.title,
            "publisher": {
                "category": "coordinator",
                "name": publisher_name,
                "namespace": publisher_namespace,
            },
            "distribution": distribution,
            "notes": notes,
            "tracking": {
                "id": document.id,
                "status": "final",
                "version": str(latest.number),
                "initial_release_date": _timestamp(revisions[0].date),
                "current_release_date": _timestamp(latest.date),
                "revision_history": [
                    {"number": str(r.number), "date": _timestamp(r.date), "summary": r.summary}
                    for r in revisions
                ],
                "generator": {"engine": {"name": "predeploy", "version": __version__}},
            },
        },
        "product_tree": tree.as_json(),
        "vulnerabilities": [],
    }
    if document.aliases:
        csaf["document"]["tracking"]["aliases"] = document.aliases
    if document.references:
        csaf["document"]["references"] = [
            {"category": "external", "summary": r.type.lower(), "url": r.url}
            for r in document.references
        ]
    for vulnerability in document.vulnerabilities:
        groups = {k: list(v) for k, v in statuses.get(vulnerability.id, {}).items()}
        if tree.affected:
            groups.setdefault("known_affected", []).extend(tree.affected)
        if tree.fixed:
            groups.setdefault("fixed", []).extend(tree.fixed)
        entry: dict[str, Any] = {
            "title": vulnerability.title,
            "notes": [
                {"category": "description", "title": "Description", "text": document.summary}
            ],
        }
        if groups:
            entry["product_status"] = groups
        if vulnerability.cve_id:
            entry["cve"] = vulnerability.cve_id
        else:
            entry["ids"] = [{"system_name": "predeploy", "text": vulnerability.id}]
        name = cwe_name(vulnerability.cwe) if vulnerability.cwe else None
        if vulnerability.cwe and name:
            entry["cwe"] = {"id": vulnerability.cwe, "name": name}
        scored = groups.get("known_affected") or [p for ids in groups.values() for p in ids]
        if vulnerability.cvss_v3 is not None and scored:
            entry["scores"] = [{"cvss_v3": _cvss_v3(vulnerability.cvss_v3), "products": scored}]
        affected_ids = groups.get("known_affected", [])
        if affected_ids:
            category = "vendor_fix" if tree.fixed else "mitigation"
            entry["remediations"] = [{"category": category, "details": document.remediation,
                                      "product_ids": affected_ids}]  # fmt: skip
        not_affected = [s for s in statements.get(vulnerability.id, [])
                        if s["group"] == "known_not_affected"]  # fmt: skip
        if not_affected:
            entry["threats"] = [
                {"category": "impact",
                 "details": s["text"] or f"{s['vendor']} states it is not affected.",
                 "product_ids": [s["product_id"]]}
                for s in not_affected
            ]  # fmt: skip
        csaf["vulnerabilities"].append(entry)
    return csaf
