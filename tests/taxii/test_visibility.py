"""What each caller reads through TAXII is what the sharing rules give them, never more: an AMBER
advisory reaches its recipients and case participants only; a vulnerability report carries its
proof of concept (under a granular marking) only for those the payload is released to, and comes
without it, still valid, for everyone else; a report that the end of its embargo opens to the
community is added to the collection then, so that polling clients get it. Every object served is
clean under OASIS's validator in strict mode.

It proves threat T39 of `docs/threat-model.md`.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta
from typing import Any

from predeploy.clock import FrozenClock
from predeploy.interop._stix import TLP_MARKINGS
from predeploy.interop._stix_reports import PROOF_OF_CONCEPT, REPORT_EXTENSION
from tests.clearinghouse.conftest import SOFTWARE_VULN, body
from tests.clearinghouse.test_advisories import _coordinating_case
from tests.clearinghouse.test_attachments import PAYLOAD, _upload
from tests.conftest import START, Caller
from tests.interop.test_cve5 import publish
from tests.interop.test_stix import validation_errors
from tests.taxii.conftest import Taxii

STEPS = "Send a header of 5000 'A's to port 8080; parse_header overflows."


def _partners(taxii: Taxii, caller: Caller) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = (
        taxii.collection(caller, "partners").get_objects(version="all").get("objects", [])
    )
    return objects


def _valid(objects: list[dict[str, Any]]) -> None:
    bundle = {"type": "bundle", "id": "bundle--7d9f1b2e-4c3a-4e5f-8a6b-1c2d3e4f5a6b",
              "objects": objects}  # fmt: skip
    assert validation_errors(bundle) == []


def test_an_amber_advisory_reaches_only_its_recipients_and_participants(taxii: Taxii) -> None:
    community = taxii.community
    recipient = community.recipient
    number = publish(community, community.file(SOFTWARE_VULN), tlp="AMBER",
                     recipients={"orgs": [recipient.org_id]})  # fmt: skip
    seen = _partners(taxii, recipient)
    (vulnerability,) = [o for o in seen if o["type"] == "vulnerability"]
    assert vulnerability["object_marking_refs"] == [TLP_MARKINGS["AMBER"]]
    assert {"source_name": "predeploy", "external_id": number} in (
        vulnerability["external_references"]
    )
    _valid(seen)
    # The case's vendor and reporter see it too (with the report itself).
    for participant in (community.vendor, community.reporter):
        assert vulnerability in _partners(taxii, participant)
    # A participant org that is none of these gets nothing: not the objects, not their ids.
    outsider = community.participant
    partners = taxii.collection(outsider, "partners")
    assert partners.get_objects() == {"more": False}
    assert partners.get_manifest() == {"more": False}
    unknown = f"vulnerability--{uuid.uuid4()}"
    for path in ("", "versions/"):
        hidden = taxii.get(outsider, f"collections/partners/objects/{vulnerability['id']}/{path}")
        missing = taxii.get(outsider, f"collections/partners/objects/{unknown}/{path}")
        assert hidden.status_code == missing.status_code == 404
        assert hidden.text.replace(vulnerability["id"], unknown) == missing.text
    for alias in ("public", "community"):
        assert taxii.collection(recipient, alias).get_objects() == {"more": False}


def _report(objects: list[dict[str, Any]], vuln_id: str) -> dict[str, Any]:
    (found,) = [
        o
        for o in objects
        if o["type"] == "vulnerability"
        and {"source_name": "predeploy", "external_id": vuln_id} in o["external_references"]
    ]
    return found


def test_the_proof_of_concept_goes_only_to_those_it_is_released_to(taxii: Taxii) -> None:
    community = taxii.community
    shared = body(SOFTWARE_VULN, recipients={"orgs": [community.recipient.org_id]},
                  evidence={"steps": STEPS})  # fmt: skip
    vuln = community.file(shared)
    assert _upload(community, community.reporter, vuln["id"], PAYLOAD, poc=True).status_code == 201
    _coordinating_case(community, vuln)  # invites the vendor; CVE-2026-12345

    # The invited vendor and the reporter get the proof of concept, under AMBER+STRICT.
    for entitled in (community.vendor, community.reporter):
        objects = _partners(taxii, entitled)
        _valid(objects)
        report = _report(objects, vuln["id"])
        assert report[PROOF_OF_CONCEPT] == {
            "description": STEPS,
            "attachments": [{"name": "poc.py", "mime_type": "text/x-python",
                             "size": len(PAYLOAD),
                             "hashes": {"SHA-256": hashlib.sha256(PAYLOAD).hexdigest()}}],
        }  # fmt: skip
        assert report["granular_markings"] == [
            {"marking_ref": TLP_MARKINGS["AMBER+STRICT"], "selectors": [PROOF_OF_CONCEPT]}
        ]
        assert report["object_marking_refs"] == [TLP_MARKINGS["AMBER"]]
        assert {"source_name": "cve", "external_id": "CVE-2026-12345"} in (
            report["external_references"]
        )
        assert {o["id"] for o in objects} >= {
            REPORT_EXTENSION, TLP_MARKINGS["AMBER"], TLP_MARKINGS["AMBER+STRICT"]
        }  # fmt: skip

    # The recipient org sees the report, without the proof of concept or its marking, and
    # without the case's CVE (the case is not theirs to see).
    objects = _partners(taxii, community.recipient)
    _valid(objects)
    report = _report(objects, vuln["id"])
    assert PROOF_OF_CONCEPT not in report
    assert "granular_markings" not in report and "extensions" not in report
    assert {r["source_name"] for r in report["external_references"]} == {"predeploy", "cwe"}
    assert REPORT_EXTENSION not in {o["id"] for o in objects}
    assert hashlib.sha256(PAYLOAD).hexdigest() not in str(objects) and STEPS not in str(objects)
    assert _partners(taxii, community.participant) == []


def test_a_red_report_keeps_its_proof_of_concept_red(taxii: Taxii) -> None:
    community = taxii.community
    named = community.recipient
    red = body(SOFTWARE_VULN, tlp="RED", recipients={"users": [named.user_id]},
               evidence={"steps": STEPS})  # fmt: skip
    vuln = community.file(red)
    own = _report(_partners(taxii, community.reporter), vuln["id"])
    assert own["object_marking_refs"] == [TLP_MARKINGS["RED"]]
    assert own["granular_markings"] == [
        {"marking_ref": TLP_MARKINGS["RED"], "selectors": [PROOF_OF_CONCEPT]}
    ]
    theirs = _partners(taxii, named)
    _valid(theirs)
    assert PROOF_OF_CONCEPT not in _report(theirs, vuln["id"])
    # Another member of the named user's org is not named.
    colleague = community.api.user(named.org_id, "member")
    assert _partners(taxii, colleague) == []


def test_a_report_whose_embargo_ends_is_added_for_the_community_then(taxii: Taxii) -> None:
    community = taxii.community
    embargo_end = START + timedelta(days=10)
    green = body(SOFTWARE_VULN, tlp="GREEN", embargo_end=embargo_end.isoformat())
    vuln = community.file(green)
    member = community.participant
    assert _partners(taxii, member) == []
    polled_at = "2026-12-01T00:00:00.000000Z"  # after the filing, before the embargo ends
    clock = community.api.runtime.clock
    assert isinstance(clock, FrozenClock)
    clock.set(embargo_end + timedelta(hours=1))
    partners = taxii.collection(member, "partners")
    new = partners.get_objects(added_after=polled_at)["objects"]
    report = _report(new, vuln["id"])
    (record,) = [r for r in partners.get_manifest()["objects"] if r["id"] == report["id"]]
    assert record["date_added"] == "2026-12-10T12:00:00.000000Z"  # the embargo's end
    assert report["object_marking_refs"] == [TLP_MARKINGS["GREEN"]]
    _valid(new)
