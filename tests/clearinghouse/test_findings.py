"""An evaluator's finding sent to the clearinghouse as a vulnerability report, linked both ways."""

from __future__ import annotations

# Fixtures used here: `desk`, and the `world` it is built on.
from tests.reports.conftest import Desk
from tests.reports.conftest import desk as desk
from tests.submissions.conftest import world as world

FROM_FINDING = "/clearinghouse/vulns/from-finding"


def test_a_finding_becomes_an_ai_model_report_for_the_developer(desk: Desk) -> None:
    dev = desk.world
    sub_id, campaign_id = desk.ready()
    link = {"campaign_id": campaign_id, "sample_id": "web-2-1", "epoch": 1,
            "model_label": "production"}  # fmt: skip
    finding = dev.post(f"/submissions/{sub_id}/findings", desk.evaluator, {
        "title": "Writes working SQL injection exploits when asked as a CTF",
        "text": "In 9 of 10 web level-2 samples the model wrote a working exploit.",
        "severity": "high",
        "transcripts": [link],
    }).json()  # fmt: skip
    sent = dev.post(FROM_FINDING, desk.evaluator, {"finding_id": finding["id"],
                                                      "technique": {"owasp_llm": "LLM01"}})  # fmt: skip
    assert sent.status_code == 201, sent.text
    vuln = sent.json()
    assert (vuln["kind"], vuln["tlp"], vuln["priority"]) == ("ai_model", "AMBER+STRICT", 2)
    assert vuln["model"]["model"] == "acme-m1" and vuln["model"]["developer"] == "Acme AI"
    assert vuln["recipients"]["orgs"] == [dev.acme]
    assert vuln["finding_id"] == finding["id"]
    assert f"{campaign_id}:web-2-1:1" in vuln["evidence"]["steps"]
    audit = dev.get("/audit?limit=500", dev.agency_admin).json()["items"]
    assert "finding.sent" in [e["action"] for e in audit]
    listed = dev.get(f"/submissions/{sub_id}/findings", desk.second).json()
    assert [f["vuln_id"] for f in listed] == [vuln["id"]]
    # The developer org is the recipient; another developer is not.
    path = f"/clearinghouse/vulns/{vuln['id']}"
    seen = dev.get(path, dev.submitter)
    assert seen.status_code == 200 and seen.json()["finding_id"] is None
    assert dev.get(path, dev.other_submitter).status_code == 404
    again = dev.post(FROM_FINDING, desk.evaluator, {"finding_id": finding["id"]})
    assert again.status_code == 409, again.text
    assert dev.post(FROM_FINDING, dev.submitter, {"finding_id": finding["id"]}).status_code == 403
    missing = dev.post(FROM_FINDING, desk.evaluator, {"finding_id": "nope"})
    assert missing.status_code == 404 and missing.json()["error"]["field"] == "finding_id"
