"""AVID export: a published AI-model advisory as an AVID report (data version 0.2) with the
model as the affected artifact; refused, naming the formats that apply, for an advisory that
names no model.

AVID publishes no JSON schema: the report is checked field by field against the structure of
`avidtools.datamodels.report.Report`."""

from __future__ import annotations

from tests.clearinghouse.conftest import Community
from tests.clearinghouse.conftest import community as community
from tests.interop.test_osv import ADVISORIES, publish_software_and_model

AVID_FIELDS = {"data_type", "data_version", "metadata", "affects", "problemtype", "metrics",
               "references", "description", "impact", "credit", "reported_date"}  # fmt: skip


def test_an_ai_model_advisory_is_an_avid_report(community: Community) -> None:
    software, model = publish_software_and_model(community)
    response = community.get(None, f"{ADVISORIES}/{model}/export", format="avid")
    assert response.status_code == 200, response.text
    report = response.json()["content"]
    assert set(report) == AVID_FIELDS
    assert (report["data_type"], report["data_version"]) == ("AVID", "0.2")
    assert report["metadata"] == {"report_id": model}
    assert report["affects"] == {
        "developer": ["Acme AI"], "deployer": [],
        "artifacts": [{"type": "Model", "name": "Acme AI/falcon 2026-11-01"}],
    }  # fmt: skip
    assert report["problemtype"]["classof"] == "LLM Evaluation"
    assert report["problemtype"]["type"] == "Advisory"
    assert set(report["problemtype"]["description"]) == {"lang", "value"}
    assert report["impact"] == {"avid": {
        "risk_domain": ["Security"], "sep_view": ["S0400: Model Bypass"],
        "lifecycle_view": ["L05: Evaluation"], "taxonomy_version": "0.2"}}  # fmt: skip
    (metric,) = report["metrics"]
    assert set(metric) == {"name", "detection_method", "results"}
    assert report["reported_date"] == community.api.runtime.clock.now().date().isoformat()
    assert all(set(c) == {"lang", "value"} for c in report["credit"])

    refused = community.get(None, f"{ADVISORIES}/{software}/export", format="avid")
    assert refused.status_code == 422
    message = refused.json()["error"]["message"]
    assert "avid does not apply" in message and "names no AI model" in message
    assert message.endswith(
        "formats that apply: stix, csaf, csaf_vex, osv"
    )  # no reference: no cve5
