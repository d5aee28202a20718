"""A posted STIX `vulnerability` as the vulnerability report the clearinghouse's intake takes.

STIX gives the title (`name`), the description, the CWE (an external reference with
`source_name: cwe`) and the TLP 2.0 label (one of the official marking definitions in
`object_marking_refs`). What STIX has no property for comes from the object's
`x_predeploy_report`, in the API's own terms (kind, affected, model, provenance, consent, ...).
Its kind defaults to `software` (what STIX means by a vulnerability) and its consent to none:
the report is then shared with no one beyond the agency, and its reporter is not named.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from ..clearinghouse.models import Tlp
from ..clearinghouse.schemas import VulnCreate
from ..errors import InvalidInput, first_validation_error
from ..interop._stix import TLP_MARKINGS
from ..interop._stix_reports import REPORT_PROPERTY
from .schemas import StixVulnerabilityIn

LABELS = {marking: label for label, marking in TLP_MARKINGS.items()}
"""The TLP 2.0 label of each official marking definition id."""
_FROM_STIX = {"title": "name", "description": "description", "tlp": "object_marking_refs",
              "cwe": "external_references"}  # fmt: skip
"""The report's fields that come from STIX properties, and those properties."""
_DEFAULTS: dict[str, Any] = {"kind": "software", "consent": {"share": False, "credit": False}}
MAX_DEPTH = 32
"""Objects and lists nested deeper than this are refused: STIX objects and reports need a few
levels, and the report's free-form fields (`evidence.sampling`) must not carry a structure that
the intake cannot serialise."""


def too_deep(value: Any) -> bool:
    """Whether `value` nests objects or lists deeper than MAX_DEPTH (walked without recursion, so
    that no depth can exhaust the stack)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        )
        if children and depth >= MAX_DEPTH:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _label(stix: StixVulnerabilityIn) -> Tlp:
    labels = {LABELS[ref] for ref in stix.object_marking_refs if ref in LABELS}
    if len(labels) != 1:
        found = ", ".join(sorted(f"TLP:{label.value}" for label in labels)) or "none"
        raise InvalidInput(
            "object_marking_refs: give exactly one TLP 2.0 marking definition (the official "
            f"ids for CLEAR, GREEN, AMBER, AMBER+STRICT or RED); found {found}",
            field="object_marking_refs",
        )
    (label,) = labels
    return label


def vuln_create(stix: StixVulnerabilityIn) -> VulnCreate:
    """The vulnerability report `stix` describes; InvalidInput naming the STIX property that is
    wrong (`x_predeploy_report.affected: ...`) if it is not one the clearinghouse takes."""
    extra = stix.x_predeploy_report
    clashes = sorted(set(extra) & set(_FROM_STIX))
    if clashes:
        name = clashes[0]
        raise InvalidInput(
            f"{REPORT_PROPERTY}.{name}: give it as the STIX property {_FROM_STIX[name]}",
            field=f"{REPORT_PROPERTY}.{name}",
        )
    cwe = next((r.external_id for r in stix.external_references if r.source_name == "cwe"), None)
    data = {
        **_DEFAULTS,
        **extra,
        "title": stix.name,
        "description": stix.description,
        "tlp": _label(stix),
        "cwe": cwe,
    }
    try:
        return VulnCreate.model_validate(data)
    except ValidationError as exc:
        error = first_validation_error(exc)
        top = (error.field or "").split(".")[0]
        if top in _FROM_STIX:
            message = _FROM_STIX[top] + error.message.removeprefix(top)
        else:
            message = f"{REPORT_PROPERTY}{'.' if error.field else ': '}{error.message}"
        raise InvalidInput(message) from exc
