"""Posting vulnerability reports to the `reports` inbox with taxii2-client: 202 with a status that
gives each object its own outcome; what succeeds is in the analysts' triage queue and the audit
log; bad objects fail with a message naming what is wrong, never a 500; only members of
participant orgs with a write-scope token may post; TAXII's media types (406, 415), its body limit
(413) and malformed envelopes (400, 422) change nothing.

It proves threat T40 of `docs/threat-model.md`.
"""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

import pytest
from requests import HTTPError
from sqlalchemy import func, select

from predeploy.clearinghouse.models import Tlp
from predeploy.interop._stix import TLP_MARKINGS, tlp_marking
from predeploy.interop._stix_reports import REPORT_EXTENSION
from predeploy.taxii._intake import MAX_DEPTH
from predeploy.taxii.models import TaxiiStatus
from predeploy.taxii.service import MAX_OBJECTS
from tests.clearinghouse.conftest import Community
from tests.conftest import Caller
from tests.taxii.conftest import MAX_CONTENT_LENGTH, TAXII, Taxii

TRIAGE = "/api/v1/clearinghouse/triage"


def _vulnerability(**changes: Any) -> dict[str, Any]:
    stix: dict[str, Any] = {
        "type": "vulnerability",
        "spec_version": "2.1",
        "id": f"vulnerability--{uuid.uuid4()}",
        "created": "2026-11-29T08:00:00.000Z",
        "modified": "2026-11-29T09:00:00.000Z",
        "name": "Heap overflow in header parsing of libtaxii",
        "description": "A header longer than 4096 bytes overflows a heap buffer in read_header.",
        "external_references": [{"source_name": "cwe", "external_id": "CWE-787"}],
        "object_marking_refs": [TLP_MARKINGS["AMBER"]],
        "extensions": {REPORT_EXTENSION: {"extension_type": "toplevel-property-extension"}},
        "x_predeploy_report": {
            "affected": [{"purl": "pkg:pypi/libtaxii", "ranges": [
                {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.2.0"}]}]}],
            "provenance": {"discovered_by": "human", "human_verified": True},
            "consent": {"share": True, "credit": False},
        },
    }  # fmt: skip
    stix.update(changes)
    return stix


def _triage(community: Community) -> list[dict[str, Any]]:
    response = community.get(community.analyst, TRIAGE)
    assert response.status_code == 200, response.text
    queue: list[dict[str, Any]] = response.json()
    return queue


def _statuses(community: Community) -> int:
    with community.api.runtime.sessions() as session:
        return session.scalar(select(func.count()).select_from(TaxiiStatus)) or 0


def test_posted_vulnerabilities_go_to_the_triage_queue(taxii: Taxii) -> None:
    community = taxii.community
    member = community.participant
    good = _vulnerability()
    unlabelled = _vulnerability(object_marking_refs=[])
    without_provenance = _vulnerability(x_predeploy_report={"affected": [{"purl": "pkg:npm/x"}]})
    bad_purl = _vulnerability(x_predeploy_report={
        **good["x_predeploy_report"], "affected": [{"purl": "pypi/libtaxii"}]})  # fmt: skip
    identity = {"type": "identity", "spec_version": "2.1", "id": f"identity--{uuid.uuid4()}",
                "created": "2026-11-29T08:00:00.000Z", "modified": "2026-11-29T08:00:00.000Z",
                "name": "Participant CERT"}  # fmt: skip
    nested: Any = {}
    for _ in range(MAX_DEPTH):
        nested = {"deeper": nested}
    deep = _vulnerability(x_predeploy_report={
        **good["x_predeploy_report"], "evidence": {"sampling": nested}})  # fmt: skip
    objects = [tlp_marking(Tlp.AMBER), good, identity, unlabelled, without_provenance, bad_purl,
               _vulnerability(id="vulnerability--1"), "not an object", deep]  # fmt: skip
    inbox = taxii.collection(member, "reports")
    status = inbox.add_objects({"objects": objects}, wait_for_completion=False)

    assert status.status == "complete"
    assert (status.total_count, status.success_count, status.failure_count) == (9, 2, 7)
    assert status.pending_count == 0
    successes = {s["id"]: s["message"] for s in status.successes}
    assert set(successes) == {TLP_MARKINGS["AMBER"], good["id"]}
    assert all(s["version"] for s in status.successes)
    failures = [(f["id"], f["message"]) for f in status.failures]
    assert failures == [
        (identity["id"], "identity is not taken: this collection files vulnerability objects"),
        (unlabelled["id"], "object_marking_refs: give exactly one TLP 2.0 marking definition "
         "(the official ids for CLEAR, GREEN, AMBER, AMBER+STRICT or RED); found none"),
        (without_provenance["id"], "x_predeploy_report.provenance: Field required"),
        (bad_purl["id"], failures[3][1]),
        ("vulnerability--1", "id: String should match pattern "
         "'^vulnerability--[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[89abAB][0-9a-fA-F]{3}"
         "-[0-9a-fA-F]{12}$'"),
        ("", "an object without a type is not taken: this collection files vulnerability "
         "objects"),
        (deep["id"], f"the object nests deeper than {MAX_DEPTH} levels"),
    ]  # fmt: skip
    assert failures[3][1].startswith("affected.0.purl")

    # The report is filed like any other: in the analysts' triage queue, from the poster's org.
    filed = successes[good["id"]].removeprefix("filed as vulnerability report ")
    queue = {vuln["id"]: vuln for vuln in _triage(community)}
    assert queue[filed]["title"] == good["name"]
    assert queue[filed]["tlp"] == "AMBER" and queue[filed]["cwe"] == "CWE-787"
    assert queue[filed]["affected"][0]["purl"] == "pkg:pypi/libtaxii"
    assert queue[filed]["reporter_org_id"] == member.org_id
    assert len(queue) == 1
    # And it comes back to its reporter as STIX, in the partners collection.
    partners = taxii.collection(member, "partners").get_objects(type="vulnerability")["objects"]
    (back,) = [o for o in partners if {"source_name": "predeploy", "external_id": filed}
               in o["external_references"]]  # fmt: skip
    assert (back["name"], back["object_marking_refs"]) == (good["name"], [TLP_MARKINGS["AMBER"]])

    # The status can be read again by the poster's org and the agency, by no one else.
    again = taxii.root(member).get_status(status.id)
    assert (again.success_count, again.failures) == (2, status.failures)
    assert taxii.root(community.analyst).get_status(status.id).total_count == 9
    for outsider in (community.recipient, community.vendor):
        with pytest.raises(HTTPError) as refused:
            taxii.root(outsider).get_status(status.id)
        assert refused.value.response.status_code == 404

    # Posting the same object again files nothing new.
    repeat = inbox.add_objects({"objects": [good]}, wait_for_completion=False)
    assert repeat.failures[0]["message"].startswith(
        f"already filed as vulnerability report {filed}"
    )
    assert len(_triage(community)) == 1

    audit = community.get(community.api.agency_admin, "/api/v1/audit", limit=500).json()["items"]
    added = [e for e in audit if e["action"] == "taxii.objects_added"]
    agency = community.api.agency_admin.org_id
    assert sorted((e["object"]["id"], e["org_id"]) for e in added) == sorted(
        (s, org) for s in (status.id, repeat.id) for org in (member.org_id, agency)
    )
    assert added[-1]["detail"] == {"collection": "reports", "total": 9, "succeeded": 2,
                                   "failed": 7}  # fmt: skip


def test_only_members_of_participant_orgs_may_post(taxii: Taxii) -> None:
    community = taxii.community
    envelope = json.dumps({"objects": [_vulnerability()]}).encode()
    refusals: list[tuple[Caller | None, str, int]] = [
        (None, "reports", 401),
        (community.vendor, "reports", 404),
        (community.analyst, "reports", 404),
        (taxii.read_only(community.participant), "reports", 404),
        (community.participant, "public", 403),
        (community.participant, "partners", 403),
    ]
    for caller, alias, status in refusals:
        refused = taxii.post(caller, f"collections/{alias}/objects/", envelope)
        assert refused.status_code == status, (caller, alias, refused.text)
        assert refused.headers["Content-Type"] == TAXII
    assert _triage(community) == [] and _statuses(community) == 0


def test_media_types_size_and_envelopes_are_checked_before_anything_is_filed(
    taxii: Taxii,
) -> None:
    community = taxii.community
    member = community.participant
    inbox = "collections/reports/objects/"
    envelope = json.dumps({"objects": [_vulnerability()]}).encode()
    for accept in ("application/json", "application/taxii+json;version=2.0", "*/*"):
        assert taxii.get(member, "collections/", accept=accept).status_code == 406
        assert taxii.post(member, inbox, envelope, accept=accept).status_code == 406
    assert taxii.get(member, "collections/", accept="application/taxii+json").status_code == 200
    for content_type in ("application/json", "application/stix+json;version=2.1"):
        refused = taxii.post(member, inbox, envelope, content_type=content_type)
        assert refused.status_code == 415 and refused.json()["http_status"] == "415"

    padded = copy.deepcopy(json.loads(envelope))
    padded["objects"][0]["description"] = "A" * MAX_CONTENT_LENGTH
    too_large = taxii.post(member, inbox, json.dumps(padded).encode())
    assert too_large.status_code == 413, too_large.text
    assert too_large.headers["Content-Type"] == TAXII
    assert str(MAX_CONTENT_LENGTH) in too_large.json()["description"]

    crowded = json.dumps({"objects": [tlp_marking(Tlp.AMBER)] * (MAX_OBJECTS + 1)}).encode()
    for body, status in ((b"{not json", 400), (b'{"objects": []}', 422), (b"[]", 422),
                         (b"[" * 50_000, 400), (crowded, 422)):  # fmt: skip
        malformed = taxii.post(member, inbox, body)
        assert malformed.status_code == status, malformed.text
        assert malformed.json()["http_status"] == str(status)
    assert _triage(community) == [] and _statuses(community) == 0
