"""Attachments of vulnerability reports: proof-of-concept payloads encrypted at rest, released only
to the reporter and the agency's analysts; their hashes visible to everyone who sees the report."""

from __future__ import annotations

import hashlib

from httpx2 import Response
from sqlalchemy import text

from tests.clearinghouse.conftest import SOFTWARE_VULN, VULNS, Community, body
from tests.conftest import Caller

PAYLOAD = b"import socket\n# sends 5000 'A's to port 8080 to smash parse_header\n"


def _upload(
    community: Community, caller: Caller, vuln_id: str, content: bytes, *, poc: bool
) -> Response:
    return community.api.http.post(
        f"{VULNS}/{vuln_id}/attachments",
        params={"filename": "poc.py" if poc else "notes.txt", "proof_of_concept": poc},
        content=content,
        headers={**caller.headers, "Content-Type": "text/x-python" if poc else "text/plain"},
    )


def test_a_proof_of_concept_is_encrypted_and_released_only_to_reporter_and_agency(
    community: Community,
) -> None:
    shared = body(SOFTWARE_VULN, recipients={"orgs": [community.recipient.org_id]})
    vuln = community.file(shared)
    response = _upload(community, community.reporter, vuln["id"], PAYLOAD, poc=True)
    assert response.status_code == 201, response.text
    meta = response.json()
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    assert (meta["sha256"], meta["size_bytes"], meta["proof_of_concept"]) == (
        digest,
        len(PAYLOAD),
        True,
    )
    content = f"{VULNS}/{vuln['id']}/attachments/{meta['id']}/content"
    # The recipient sees the report and the payload's hash, not the payload.
    seen = community.get(community.recipient, f"{VULNS}/{vuln['id']}").json()
    assert [a["sha256"] for a in seen["attachments"]] == [digest]
    refused = community.get(community.recipient, content)
    assert refused.status_code == 403 and digest in refused.json()["error"]["message"]
    assert community.get(community.participant, content).status_code == 404
    for caller in (community.reporter, community.analyst):
        got = community.get(caller, content)
        assert got.status_code == 200 and got.content == PAYLOAD
        assert got.headers["X-Content-SHA256"] == digest
        assert got.headers["X-Content-Type-Options"] == "nosniff"
    with community.api.runtime.engine.connect() as connection:  # type: ignore[union-attr]
        stored = connection.execute(text("SELECT content FROM vuln_attachments")).scalar_one()
    assert PAYLOAD not in bytes(stored) and b"parse_header" not in bytes(stored)
    audit = community.get(community.api.agency_admin, "/api/v1/audit").json()["items"]
    assert [e["action"] for e in audit].count("vuln.payload_read") == 2


def test_evidence_is_readable_by_whoever_sees_the_report(community: Community) -> None:
    vuln = community.file(body(SOFTWARE_VULN, recipients={"orgs": [community.recipient.org_id]}))
    meta = _upload(community, community.reporter, vuln["id"], b"crash log", poc=False).json()
    got = community.get(
        community.recipient, f"{VULNS}/{vuln['id']}/attachments/{meta['id']}/content"
    )
    assert got.status_code == 200 and got.content == b"crash log"


def test_only_the_reporter_and_analysts_attach_and_limits_hold(community: Community) -> None:
    vuln = community.file(body(SOFTWARE_VULN, recipients={"orgs": [community.recipient.org_id]}))
    assert _upload(community, community.recipient, vuln["id"], b"x", poc=False).status_code == 403
    assert _upload(community, community.participant, vuln["id"], b"x", poc=False).status_code == 404
    assert _upload(community, community.analyst, vuln["id"], b"x", poc=False).status_code == 201
    empty = _upload(community, community.reporter, vuln["id"], b"", poc=True)
    assert empty.status_code == 422
    community.api.runtime.settings.max_attachment_bytes = 10
    big = _upload(community, community.reporter, vuln["id"], b"x" * 11, poc=True)
    assert big.status_code == 413
    count = len(community.get(community.analyst, f"{VULNS}/{vuln['id']}").json()["attachments"])
    assert count == 1


def test_steps_to_reproduce_are_released_as_a_proof_of_concept_is(community: Community) -> None:
    steps = "Send 5000 'A's to port 8080: parse_header overflows."
    shared = body(SOFTWARE_VULN, recipients={"orgs": [community.recipient.org_id]},
                  evidence={"steps": steps, "judge": "a crash under ASan"})  # fmt: skip
    vuln = community.file(shared)
    seen = community.get(community.recipient, f"{VULNS}/{vuln['id']}").json()
    assert seen["evidence"]["judge"] == "a crash under ASan" and "steps" not in seen["evidence"]
    listed = community.get(community.recipient, VULNS).json()["items"]
    assert ["steps" in v["evidence"] for v in listed] == [False]
    for caller in (community.reporter, community.analyst):
        got = community.get(caller, f"{VULNS}/{vuln['id']}").json()
        assert got["evidence"]["steps"] == steps
