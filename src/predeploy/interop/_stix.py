"""A published advisory as a STIX 2.1 bundle: the agency's `identity`; a `vulnerability` per case
vulnerability (CVE and CWE as external references); a `software` object per affected product
(an AI model too), each `related-to` the vulnerabilities; a `course-of-action` that `mitigates`
them; and a `report` that holds them all. Every object carries the advisory's TLP 2.0 marking,
by the official marking-definition ids of the TLP 2.0 extension, which the bundle includes.

Ids are UUIDv5 names of the advisory and the object, so re-exporting a revision gives the same
ids, and a new revision the same ids with a newer `modified`.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from packageurl import PackageURL

from ..clearinghouse.models import Tlp
from ..clearinghouse.schemas import AdvisoryAffected, AdvisoryDocument

TLP_EXTENSION = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
TLP_MARKINGS = {
    Tlp.CLEAR: "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    Tlp.GREEN: "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    Tlp.AMBER: "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    Tlp.AMBER_STRICT: "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    Tlp.RED: "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
"""The TLP 2.0 marking definitions' fixed ids (FIRST's STIX extension)."""
_NAMESPACE = uuid.UUID("5b4d3f52-6a0e-4d55-9a57-2f9d7d0c1e11")
"""predeploy's namespace for the names its STIX ids are derived from."""
STIX_SCO_NAMESPACE = uuid.UUID("00abedb4-aa42-466c-9c01-fed23315a9b7")
"""STIX 2.1's namespace for the UUIDv5 ids of cyber-observable objects."""
_SOFTWARE_ID_PROPERTIES = ("name", "cpe", "swid", "vendor", "version")


def tlp_marking(tlp: Tlp) -> dict[str, Any]:
    """The TLP 2.0 marking-definition object, as the extension defines it."""
    return {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": TLP_MARKINGS[tlp],
        "created": "2022-10-01T00:00:00.000Z",
        "name": f"TLP:{tlp.value}",
        "extensions": {
            TLP_EXTENSION: {
                "extension_type": "property-extension",
                "tlp_2_0": tlp.value.lower(),
            }
        },
    }


def _id(kind: str, *names: str) -> str:
    """A stable id in the UUIDv4 form STIX asks of domain objects: derived from the names (so a
    re-export keeps its ids) with the version and variant bits of a v4 UUID."""
    digest = bytearray(uuid.uuid5(_NAMESPACE, "/".join(names)).bytes)
    digest[6] = (digest[6] & 0x0F) | 0x40
    digest[8] = (digest[8] & 0x3F) | 0x80
    return f"{kind}--{uuid.UUID(bytes=bytes(digest))}"


def _sco_id(kind: str, properties: dict[str, Any], id_properties: tuple[str, ...]) -> str:
    """A cyber-observable's deterministic UUIDv5 id, as STIX 2.1 defines it."""
    contributing = {k: properties[k] for k in id_properties if k in properties}
    name = json.dumps(contributing, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return f"{kind}--{uuid.uuid5(STIX_SCO_NAMESPACE, name)}"


def _time(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _software(document: AdvisoryDocument, product: AdvisoryAffected) -> dict[str, Any]:
    software: dict[str, Any] = {"type": "software", "spec_version": "2.1"}
    if product.model is not None:
        software["name"] = product.model.model
        software["vendor"] = product.model.developer
        if product.model.version:
            software["version"] = product.model.version
    elif product.purl is not None:
        parsed = PackageURL.from_string(product.purl)
        software["name"] = parsed.name
        if parsed.namespace:
            software["vendor"] = parsed.namespace
    elif product.cpe is not None:
        parts = product.cpe.split(":")
        software.update(name=parts[4], vendor=parts[3], cpe=product.cpe)
    software["id"] = _sco_id("software", software, _SOFTWARE_ID_PROPERTIES)
    return software


@dataclass(frozen=True)
class Agency:
    """The agency, as the STIX identity that creates every object."""

    name: str
    since: datetime
    """When its org was created: the identity's `created`, the same in every bundle."""

    @property
    def identity_id(self) -> str:
        return _id("identity", "agency", self.name)

    def identity(self) -> dict[str, Any]:
        """The identity object: one version, labelled CLEAR (who the agency is is public), so
        that every bundle and TAXII collection carries the very same object."""
        return {
            "type": "identity",
            "spec_version": "2.1",
            "id": self.identity_id,
            "created": _time(self.since),
            "modified": _time(self.since),
            "name": self.name,
            "identity_class": "organization",
            "object_marking_refs": [TLP_MARKINGS[Tlp.CLEAR]],
        }


def advisory_to_stix(
    document: AdvisoryDocument,
    *,
    published: datetime,
    modified: datetime,
    agency: Agency,
) -> dict[str, Any]:
    """`document` as a STIX 2.1 bundle."""
    marking = TLP_MARKINGS[document.tlp]
    identity_id = agency.identity_id
    common: dict[str, Any] = {
        "spec_version": "2.1",
        "created": _time(published),
        "modified": _time(modified),
        "created_by_ref": identity_id,
        "object_marking_refs": [marking],
    }
    identity = agency.identity()
    vulnerabilities: list[dict[str, Any]] = []
    for vulnerability in document.vulnerabilities:
        references = []
        if vulnerability.cve_id:
            references.append({"source_name": "cve", "external_id": vulnerability.cve_id})
        if vulnerability.cwe:
            references.append({"source_name": "cwe", "external_id": vulnerability.cwe})
        references.append({"source_name": "predeploy", "external_id": document.id})
        references.extend({"source_name": r.type.lower(), "url": r.url}
                          for r in document.references)  # fmt: skip
        vulnerabilities.append({
            "type": "vulnerability",
            "id": _id("vulnerability", document.id, vulnerability.id),
            "name": vulnerability.cve_id or vulnerability.title,
            "description": document.summary,
            "external_references": references,
            **common,
        })  # fmt: skip
    software = [_software(document, product) for product in document.affected]
    remedy: dict[str, Any] = {
        "type": "course-of-action",
        "id": _id("course-of-action", document.id),
        "name": f"Remediation of {document.id}",
        "description": document.remediation,
        **common,
    }
    relationships: list[dict[str, Any]] = []
    for stix_vulnerability in vulnerabilities:
        for target in software:
            relationships.append({
                "type": "relationship",
                "id": _id("relationship", stix_vulnerability["id"], target["id"]),
                "relationship_type": "related-to",
                "source_ref": stix_vulnerability["id"],
                "target_ref": target["id"],
                **common,
            })  # fmt: skip
        relationships.append({
            "type": "relationship",
            "id": _id("relationship", remedy["id"], stix_vulnerability["id"]),
            "relationship_type": "mitigates",
            "source_ref": remedy["id"],
            "target_ref": stix_vulnerability["id"],
            **common,
        })  # fmt: skip
    for item in software:
        item["object_marking_refs"] = [marking]
    contents: list[dict[str, Any]] = [identity, *vulnerabilities, *software, remedy, *relationships]
    report = {
        "type": "report",
        "id": _id("report", document.id),
        "name": document.title,
        "description": document.summary,
        "report_types": ["vulnerability"],
        "published": _time(modified),
        "object_refs": [o["id"] for o in contents],
        "external_references": [{"source_name": "predeploy", "external_id": document.id}],
        **common,
    }
    return {
        "type": "bundle",
        "id": _id("bundle", document.id, str(document.revision)),
        "objects": [
            *(tlp_marking(t) for t in dict.fromkeys((document.tlp, Tlp.CLEAR))),
            report,
            *contents,
        ],
    }
