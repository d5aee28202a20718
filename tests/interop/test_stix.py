"""STIX 2.1 export: a bundle of the advisory's identity, vulnerabilities, software, course of
action, relationships and report, marked with the official TLP 2.0 marking definitions, and
clean under OASIS's `stix2-validator`; stable ids across exports."""

from __future__ import annotations

from typing import Any

from stix2validator import ValidationOptions, validate_instance

from predeploy.interop._stix import TLP_MARKINGS
from tests.clearinghouse.conftest import AI_MODEL_VULN, SOFTWARE_VULN, Community, body
from tests.clearinghouse.conftest import community as community
from tests.interop.test_cve5 import publish

ADVISORIES = "/api/v1/clearinghouse/advisories"


def bundle_of(community: Community, number: str, caller: Any = None) -> dict[str, Any]:
    response = community.get(caller, f"{ADVISORIES}/{number}/export", format="stix")
    assert response.status_code == 200, response.text
    bundle: dict[str, Any] = response.json()["content"]
    return bundle


def validation_errors(bundle: dict[str, Any]) -> list[str]:
    # Strict: warnings count. One best practice is left out: 302, a reference URL without a
    # hash of what it points to (the pages are not fetched, so nothing can be hashed).
    options = ValidationOptions(version="2.1", strict=True, disabled=["302"])
    result = validate_instance(bundle, options)
    messages = [str(e) for e in result.errors] + [str(w) for w in result.warnings]
    return messages + ([] if result.is_valid else ["invalid"])


def test_a_software_advisory_is_a_valid_stix_bundle(community: Community) -> None:
    credited = body(SOFTWARE_VULN, consent={"share": True, "credit": True})
    number = publish(community, community.file(credited),
                     references=[{"type": "FIX", "url": "https://example.org/fix"}])  # fmt: skip
    bundle = bundle_of(community, number)
    assert validation_errors(bundle) == []
    by_type: dict[str, list[dict[str, Any]]] = {}
    for item in bundle["objects"]:
        by_type.setdefault(item["type"], []).append(item)
    assert set(by_type) == {"marking-definition", "report", "identity", "vulnerability",
                            "software", "course-of-action", "relationship"}  # fmt: skip
    (marking,) = by_type["marking-definition"]
    assert marking["id"] == TLP_MARKINGS["CLEAR"] == (
        "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487")  # fmt: skip
    (vulnerability,) = by_type["vulnerability"]
    assert {"source_name": "cve", "external_id": "CVE-2026-12345"} in (
        vulnerability["external_references"])  # fmt: skip
    assert all(o["object_marking_refs"] == [marking["id"]]
               for o in bundle["objects"] if o["type"] != "marking-definition")  # fmt: skip
    (report,) = by_type["report"]
    assert len(report["object_refs"]) == len(bundle["objects"]) - 2
    assert {r["relationship_type"] for r in by_type["relationship"]} == {"related-to",
                                                                         "mitigates"}  # fmt: skip
    assert bundle_of(community, number) == bundle  # the same ids on every export
    broken = {**bundle, "objects": [{**vulnerability, "id": "vulnerability--not-a-uuid"}]}
    assert validation_errors(broken) != []


def test_an_ai_model_advisory_under_green_is_marked_green(community: Community) -> None:
    number = publish(community, community.file(AI_MODEL_VULN), tlp="GREEN")
    bundle = bundle_of(community, number, community.participant)
    assert validation_errors(bundle) == []
    assert bundle["objects"][0]["id"] == TLP_MARKINGS["GREEN"]
    (model,) = [o for o in bundle["objects"] if o["type"] == "software"]
    assert (model["name"], model["vendor"], model["version"]) == ("falcon", "Acme AI", "2026-11-01")
    assert community.get(None, f"{ADVISORIES}/{number}/export", format="stix").status_code == 404


def test_the_agency_is_one_identity_in_every_bundle(community: Community) -> None:
    from tests.interop.test_osv import publish_software_and_model

    software, model = publish_software_and_model(community)
    identities = [
        [o for o in bundle_of(community, number)["objects"] if o["type"] == "identity"]
        for number in (software, model)
    ]
    assert identities[0] == identities[1]  # TAXII collections hold one version of it
    (identity,) = identities[0]
    assert identity["object_marking_refs"] == [TLP_MARKINGS["CLEAR"]]
