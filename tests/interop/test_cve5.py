"""CVE JSON 5.1 export: the record of one CVE of a published software advisory, its CNA container
valid against the schemas that `cvelib` ships; refused, naming the formats that apply, for an
AI-model advisory; a choice among several CVEs; references required."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from jsonschema import Draft7Validator

from tests.clearinghouse.conftest import AI_MODEL_VULN, SOFTWARE_VULN, Community, Run, body
from tests.clearinghouse.conftest import community as community
from tests.clearinghouse.conftest import run as run
from tests.clearinghouse.test_advisories import (
    EMBARGO_END,
    _coordinating_case,
    _draft,
    _second_analyst,
)

ADVISORIES = "/api/v1/clearinghouse/advisories"


def schema(name: str) -> Draft7Validator:
    text = (resources.files("cvelib") / "schemas" / name).read_text()
    return Draft7Validator(json.loads(text))


def publish(community: Community, vuln: dict[str, Any], **fields: Any) -> str:
    case = _coordinating_case(community, vuln)
    second = _second_analyst(community)
    community.api.runtime.clock.set(EMBARGO_END)  # type: ignore[attr-defined]
    draft = _draft(community, case, **fields).json()
    published = community.post(second, f"{ADVISORIES}/{draft['number']}/publish",
                               {"sha256": draft["draft"]["sha256"]})  # fmt: skip
    assert published.status_code == 200, published.text
    number: str = draft["number"]
    return number


def test_a_software_advisory_exports_a_valid_cve_record(community: Community, run: Run) -> None:
    credited = body(SOFTWARE_VULN, consent={"share": True, "credit": True})
    number = publish(community, community.file(credited),
                     references=[{"type": "FIX", "url": "https://example.org/fix"}])  # fmt: skip
    response = community.get(None, f"{ADVISORIES}/{number}/export", format="cve5")
    assert response.status_code == 200, response.text
    record = response.json()["content"]
    assert response.json()["id"] == "CVE-2026-12345"
    assert list(schema("CVE_JSON_bundled_5.1.1.json").iter_errors(record)) == []
    cna = record["containers"]["cna"]
    assert list(schema("CVE_JSON_cnaPublishedContainer_5.1.1.json").iter_errors(cna)) == []
    assert cna["affected"] == [{
        "collectionURL": "https://pypi.org", "packageName": "libexample",
        "defaultStatus": "unaffected",
        "versions": [{"version": "0", "status": "affected", "versionType": "python",
                      "lessThan": "2.4.1"}],
    }]  # fmt: skip
    assert cna["metrics"] == [{"cvssV3_1": {
        "version": "3.1", "vectorString": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "baseScore": 9.8, "baseSeverity": "CRITICAL"}}]  # fmt: skip
    assert {"lang": "en", "value": "acme/finder-2 (fuzz-agent)", "type": "tool"} in cna["credits"]
    assert cna["problemTypes"][0]["descriptions"][0]["cweId"] == "CWE-787"
    # The CLI writes the same record.
    out = run(community.analyst, "advisories", "export", number, "--format", "cve5")
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout) == record


def test_cve5_does_not_apply_to_an_ai_model_advisory(community: Community) -> None:
    number = publish(community, community.file(AI_MODEL_VULN),
                     references=[{"type": "WEB", "url": "https://example.org/a"}])  # fmt: skip
    refused = community.get(None, f"{ADVISORIES}/{number}/export", format="cve5")
    assert refused.status_code == 422
    message = refused.json()["error"]["message"]
    assert message.startswith("cve5 does not apply")
    assert message.endswith("formats that apply: stix, csaf, csaf_vex, avid")


def test_a_cve_record_needs_a_reference(community: Community) -> None:
    number = publish(community, community.file(SOFTWARE_VULN))
    refused = community.get(None, f"{ADVISORIES}/{number}/export", format="cve5")
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "references"
    wrong = community.get(None, f"{ADVISORIES}/{number}/export", format="cve5",
                          cve="CVE-2026-99999")  # fmt: skip
    assert wrong.status_code == 422 and wrong.json()["error"]["field"] == "cve"
