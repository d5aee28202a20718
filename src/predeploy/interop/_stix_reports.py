"""A vulnerability report as a STIX 2.1 `vulnerability`, for the TAXII collections.

The object carries the report's title and description, its CWE and the CVE ids of its case (for
callers who may see the case) as external references, and its TLP 2.0 label as its object
marking. Its proof of concept (how to reproduce the flaw, and the name, media type, size and
SHA-256 of each proof-of-concept attachment) is the top-level property
`x_predeploy_proof_of_concept` of predeploy's extension, under a granular marking: TLP:AMBER+STRICT,
because the payload is released to named organisations only (the reporter, the agency, the
vendors invited to the report's case), or TLP:RED when the report itself is RED.
`withhold_proof_of_concept` removes the property, its marking and the extension for callers who
may not receive it, so that what they get is still a valid object.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ..clearinghouse.models import Tlp, Vuln, VulnAttachment
from ._stix import TLP_MARKINGS, _id, _time

REPORT_EXTENSION = "extension-definition--c3d5e0a4-8f21-4b6e-9a7d-2e5f3b1c8d90"
"""predeploy's extension of `vulnerability` objects (its definition: `report_extension`)."""
PROOF_OF_CONCEPT = "x_predeploy_proof_of_concept"
REPORT_PROPERTY = "x_predeploy_report"
"""What a TAXII client posting a report adds to a `vulnerability`: the report's fields that STIX
has no property for (kind, affected products, model, consent, ...)."""
_EXTENSION_CREATED = "2026-12-01T00:00:00.000Z"
_SCHEMA = (
    f"{PROOF_OF_CONCEPT}: an object with `description` (how to reproduce the flaw) and "
    "`attachments` (the proof-of-concept files: `name`, `mime_type`, `size` and `hashes` with "
    "`SHA-256`); the payloads themselves are downloaded from predeploy's API. It is released "
    "only to the reporting organisation, the agency's analysts and the vendors invited to the "
    "report's case, and marked for them by a granular marking. "
    f"{REPORT_PROPERTY}: on a `vulnerability` posted to the `reports` collection, the "
    "vulnerability report's fields that STIX has no property for, as predeploy's API takes them "
    "(kind, affected, model, technique, cvss, root_cause, evidence, provenance, consent, "
    "recipients, embargo_end); see docs/taxii.md."
)


def report_extension(agency_name: str) -> dict[str, Any]:
    """The definition of predeploy's `vulnerability` extension, created by the agency."""
    return {
        "type": "extension-definition",
        "spec_version": "2.1",
        "id": REPORT_EXTENSION,
        "created_by_ref": _id("identity", "agency", agency_name),
        "created": _EXTENSION_CREATED,
        "modified": _EXTENSION_CREATED,
        "name": "predeploy vulnerability report",
        "description": "A vulnerability report filed with predeploy's clearinghouse.",
        "schema": _SCHEMA,
        "version": "1.0.0",
        "extension_types": ["toplevel-property-extension"],
        "extension_properties": [PROOF_OF_CONCEPT, REPORT_PROPERTY],
        "object_marking_refs": [TLP_MARKINGS[Tlp.CLEAR]],
    }


def report_stix_id(vuln_id: str) -> str:
    """The STIX id of a vulnerability report: stable, so every version of it keeps it."""
    return _id("vulnerability", "vuln", vuln_id)


def _proof_of_concept(vuln: Vuln, files: Sequence[VulnAttachment]) -> dict[str, Any]:
    proof: dict[str, Any] = {}
    steps = (vuln.evidence or {}).get("steps")
    if steps:
        proof["description"] = steps
    if files:
        proof["attachments"] = [
            {
                "name": file.filename,
                "mime_type": file.media_type,
                "size": file.size_bytes,
                "hashes": {"SHA-256": file.sha256},
            }
            for file in files
        ]
    return proof


def report_to_stix(
    vuln: Vuln,
    *,
    proof_of_concept_files: Sequence[VulnAttachment],
    cve_ids: Sequence[str],
    modified: datetime,
) -> dict[str, Any]:
    """`vuln` as a STIX `vulnerability`, with its proof of concept (if it has one) under a
    granular marking."""
    label = Tlp(vuln.tlp)
    references: list[dict[str, str]] = [{"source_name": "predeploy", "external_id": vuln.id}]
    if vuln.cwe:
        references.append({"source_name": "cwe", "external_id": vuln.cwe})
    references.extend({"source_name": "cve", "external_id": cve} for cve in cve_ids)
    stix: dict[str, Any] = {
        "type": "vulnerability",
        "spec_version": "2.1",
        "id": report_stix_id(vuln.id),
        "created": _time(vuln.created_at),
        "modified": _time(modified),
        "name": vuln.title,
        "description": vuln.description,
        "external_references": references,
        "object_marking_refs": [TLP_MARKINGS[label]],
    }
    proof = _proof_of_concept(vuln, proof_of_concept_files)
    if proof:
        # Never less restrictive than the report itself.
        proof_label = Tlp.RED if label is Tlp.RED else Tlp.AMBER_STRICT
        stix[PROOF_OF_CONCEPT] = proof
        stix["granular_markings"] = [
            {"marking_ref": TLP_MARKINGS[proof_label], "selectors": [PROOF_OF_CONCEPT]}
        ]
        stix["extensions"] = {REPORT_EXTENSION: {"extension_type": "toplevel-property-extension"}}
    return stix


def withhold_proof_of_concept(stix: dict[str, Any]) -> dict[str, Any]:
    """`stix` without its proof of concept: the property, and the granular marking and the
    extension that exist only for it (a selector naming a missing property would make the
    object invalid)."""
    withheld = (PROOF_OF_CONCEPT, "granular_markings", "extensions")
    return {key: value for key, value in stix.items() if key not in withheld}
