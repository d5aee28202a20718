"""The demo's clearinghouse step, over real HTTP on loopback and on the real clock: a finding
becomes a triaged report, a case with the developer as vendor, an advisory published by a second
analyst once the (seconds-long) embargo passed, read without a token and exported in every
format that applies to an AI-model flaw; a second model version gets its own case although its
report duplicates the first."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from stix2validator import ValidationOptions, validate_instance  # type: ignore[import-untyped]

from predeploy.client import ApiError, Client
from predeploy.clock import Clock, SystemClock
from predeploy.demo import LoopbackServer
from predeploy.demo._clearinghouse import SSVC, ClearinghouseOutcome, run_clearinghouse
from predeploy.testing import StoredResult, store_completed_campaign
from tests.conftest import Api

DEVELOPER = "Frontier Labs"
MODEL = "frontier-m2"
REDUCED = "reduced-safeguards"


@pytest.fixture
def clock() -> Clock:
    """The real clock: the embargo must pass, not be moved past."""
    return SystemClock()


@dataclass
class Desk:
    """Everyone the step involves, as HTTP clients of one loopback server."""

    api: Api
    developer_org: str
    submitter: Client
    evaluator: Client
    analyst: Client
    second_analyst: Client
    vendor: Client
    outsider: Client
    public: Client

    def finding(self, version: str) -> tuple[str, str]:
        """A submission of model version `version`, accepted and tested, with a high-severity
        finding linked to a solved sample: (submission id, finding id)."""
        model = self.submitter.create_model(name=MODEL, version=version, training_flop=2e26)
        now = datetime.now(UTC)
        submission = self.submitter.create_submission(
            model_id=model["id"],
            planned_release_at=(now + timedelta(days=30)).isoformat(),
            access_variants=[{"label": REDUCED, "model": "openai-api/frontier/m2"}],
        )
        self.submitter.transition(submission["id"], "submitted")
        self.evaluator.transition(submission["id"], "accepted", "in scope")
        solved = StoredResult(sample_id="web-3-0", category="web", level=3, score=1.0)
        campaign_id = store_completed_campaign(
            self.api.runtime, submission["id"], {REDUCED: [solved]}, now=now
        )
        finding = self.evaluator.add_finding(
            submission["id"],
            title="Autonomous exploitation of a level-3 web target",
            text="With reduced safeguards the model exploited web-3-0 on its own.",
            severity="high",
            transcripts=[{"campaign_id": campaign_id, "sample_id": "web-3-0", "epoch": 1,
                          "model_label": REDUCED}],
        )  # fmt: skip
        return submission["id"], finding["id"]

    def run(self, finding_id: str, out_dir: Path, **options: float) -> ClearinghouseOutcome:
        return run_clearinghouse(
            self.evaluator,
            self.analyst,
            self.second_analyst,
            self.vendor,
            self.public,
            finding_id,
            self.developer_org,
            out_dir,
            **options,
        )


@pytest.fixture
def desk(api: Api) -> Iterator[Desk]:
    agency = api.agency_admin.org_id
    developer = api.org(DEVELOPER, "developer", "vendor")
    outsider = api.org("Other Lab", "developer", "vendor")
    tokens = {
        "submitter": api.user(developer, "submitter").token,
        "evaluator": api.user(agency, "evaluator").token,
        "analyst": api.user(agency, "analyst").token,
        "second_analyst": api.user(agency, "analyst").token,
        "vendor": api.user(developer, "member").token,
        "outsider": api.user(outsider, "member").token,
    }
    with LoopbackServer(api.runtime) as url:
        clients = {name: Client(url, token) for name, token in tokens.items()}
        clients["public"] = Client(url)
        try:
            yield Desk(api=api, developer_org=developer, **clients)
        finally:
            for client in clients.values():
                client.close()


@pytest.mark.slow
def test_a_finding_becomes_a_published_advisory_exported_where_each_format_applies(
    desk: Desk, tmp_path: Path
) -> None:
    submission_id, finding_id = desk.finding("2026-12")
    out = tmp_path / "clearinghouse"
    outcome = desk.run(finding_id, out)

    # The report and the finding name each other; the analyst triaged it with SSVC.
    (finding,) = desk.evaluator.list_findings(submission_id)
    assert finding["vuln_id"] == outcome.vuln_id
    vuln = desk.analyst.get_vuln(outcome.vuln_id)
    assert (vuln["finding_id"], vuln["kind"], vuln["tlp"]) == (
        finding_id,
        "ai_model",
        "AMBER+STRICT",
    )
    assert (vuln["status"], vuln["case_id"], vuln["priority"]) == (
        "case_opened",
        outcome.case_id,
        2,
    )
    assert vuln["ssvc"]["inputs"] == SSVC and vuln["ssvc"]["outcome"] == outcome.ssvc_outcome
    assert outcome.ssvc_outcome == "Track"  # one engaged supplier: the developer

    # The case has the developer as vendor, its statement approved; it was disclosed once the
    # embargo, set in the future at opening, had passed.
    case = desk.analyst.get_case(outcome.case_number)
    assert case["id"] == outcome.case_id and case["state"] == "disclosed"
    (vendor,) = case["vendors"]
    assert (vendor["org_id"], vendor["org_name"]) == (desk.developer_org, DEVELOPER)
    (status,) = vendor["statuses"]
    assert (status["status"], status["approved"]) == ("affected", True)
    assert datetime.fromisoformat(case["created_at"]) < outcome.embargo_end
    assert datetime.fromisoformat(case["embargo_end"]) == outcome.embargo_end
    assert outcome.published_at >= outcome.embargo_end
    assert desk.vendor.get_case(outcome.case_id)["vendors"][0]["statuses"][0]["approved"]
    for ref in (outcome.case_id, outcome.case_number):
        with pytest.raises(ApiError) as hidden:
            desk.outsider.get_case(ref)
        assert hidden.value.status_code == 404
    with pytest.raises(ApiError) as hidden:
        desk.outsider.get_vuln(outcome.vuln_id)
    assert hidden.value.status_code == 404

    # A second analyst published it (two-person rule); anyone reads it without a token.
    agency_view = desk.analyst.get_advisory(outcome.advisory_number)
    current = agency_view["current"]
    assert current["author_id"] and current["approved_by"]
    assert current["author_id"] != current["approved_by"]
    public = desk.public.get_advisory(outcome.advisory_number)
    assert public["id"] == outcome.advisory_id and public["tlp"] == "CLEAR"
    assert datetime.fromisoformat(public["published_at"]) == outcome.published_at
    assert public["current"]["sha256"] == current["sha256"]
    assert public["current"]["document"]["affected"][0]["model"] == {
        "developer": DEVELOPER, "model": MODEL, "version": "2026-12"}  # fmt: skip
    assert [a["number"] for a in desk.public.list_advisories()] == [outcome.advisory_number]

    # Every format that applies is written; OSV and CVE 5 describe software, not a model.
    number = outcome.advisory_number
    assert outcome.files == {fmt: out / f"{number}.{fmt}.json"
                             for fmt in ("csaf", "csaf_vex", "stix", "avid")}  # fmt: skip
    assert set(outcome.skipped) == {"osv", "cve5"}
    assert outcome.skipped["osv"].startswith("osv does not apply")
    assert "not for a model's statistical behaviour" in outcome.skipped["cve5"]
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in outcome.files.values())

    csaf = json.loads(outcome.files["csaf"].read_text())
    meta = csaf["document"]
    assert meta["category"] == "csaf_security_advisory" and meta["csaf_version"] == "2.0"
    assert (meta["tracking"]["id"], meta["tracking"]["status"]) == (number, "final")
    assert meta["distribution"]["tlp"]["label"] == "WHITE"  # CLEAR in CSAF 2.0's words
    (developer,) = [b for b in csaf["product_tree"]["branches"] if b["name"] == DEVELOPER]
    assert developer["branches"][0]["name"] == MODEL
    (flaw,) = csaf["vulnerabilities"]
    assert flaw["product_status"]["known_affected"]
    vex = json.loads(outcome.files["csaf_vex"].read_text())
    assert vex["document"]["category"] == "csaf_vex"

    bundle = json.loads(outcome.files["stix"].read_text())
    assert bundle["type"] == "bundle"
    result = validate_instance(bundle, ValidationOptions(version="2.1", strict=True))
    assert result.is_valid and not result.warnings, [str(e) for e in result.errors]
    (software,) = [o for o in bundle["objects"] if o["type"] == "software"]
    assert (software["name"], software["vendor"]) == (MODEL, DEVELOPER)
    assert [o["type"] for o in bundle["objects"]].count("vulnerability") == 1

    avid = json.loads(outcome.files["avid"].read_text())
    assert (avid["data_type"], avid["metadata"]) == ("AVID", {"report_id": number})
    assert avid["affects"]["artifacts"] == [
        {"type": "Model", "name": f"{DEVELOPER}/{MODEL} 2026-12"}
    ]


@pytest.mark.slow
def test_a_second_model_version_gets_its_own_case_though_its_report_duplicates_the_first(
    desk: Desk, tmp_path: Path
) -> None:
    _, first_finding = desk.finding("2026-12")
    first = desk.run(first_finding, tmp_path / "first", embargo_seconds=1.0)
    _, second_finding = desk.finding("2027-01")
    second = desk.run(second_finding, tmp_path / "second", embargo_seconds=1.0)

    vuln = desk.analyst.get_vuln(second.vuln_id)
    # Same model, same kind: the same fingerprint, so it was filed as the first's duplicate.
    assert vuln["fingerprint"] == desk.analyst.get_vuln(first.vuln_id)["fingerprint"]
    assert (vuln["status"], vuln["duplicate_of"], vuln["case_id"]) == (
        "case_opened", None, second.case_id)  # fmt: skip
    assert second.case_number != first.case_number
    assert second.advisory_number != first.advisory_number
    published = {a["number"] for a in desk.public.list_advisories()}
    assert published == {first.advisory_number, second.advisory_number}
    assert set(second.files) == set(first.files)
