"""A check's findings as SARIF 2.1.0, for code-scanning dashboards: one rule per advisory, one
result per affected component, located in the inventory file."""

from __future__ import annotations

from typing import Any

from .. import __version__

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVELS = {"CRITICAL": "error", "HIGH": "error", "MEDIUM": "warning", "LOW": "note"}


def _level(finding: dict[str, Any]) -> str:
    severity = finding.get("severity")
    if severity is None:
        return "warning"
    return _LEVELS.get(str(severity["rating"]).upper(), "note")


def to_sarif(check: dict[str, Any], inventory_uri: str) -> dict[str, Any]:
    """`check` (a CheckOut as JSON) as a SARIF log."""
    rules: dict[str, dict[str, Any]] = {}
    results = []
    for finding in check["affected"]:
        advisory = finding["advisory"]
        rules.setdefault(advisory, {
            "id": advisory,
            "shortDescription": {"text": finding["summary"] or advisory},
            "help": {"text": "Fixed in: " + (", ".join(finding["fixed"]) or "no fix known")},
            "properties": {"aliases": finding["aliases"]},
        })  # fmt: skip
        component = finding["component"]
        results.append({
            "ruleId": advisory,
            "level": _level(finding),
            "message": {"text": f"{component['name']} {component['version']} is affected by "
                                f"{advisory}" + (f" ({', '.join(finding['aliases'])})"
                                                 if finding["aliases"] else "")},
            "locations": [{
                "physicalLocation": {"artifactLocation": {"uri": inventory_uri}},
                "logicalLocations": [{"name": component["purl"] or component["name"],
                                      "fullyQualifiedName": component["ref"]}],
            }],
        })  # fmt: skip
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "predeploy", "version": __version__,
                                "rules": list(rules.values())}},
            "results": results,
        }],
    }  # fmt: skip
