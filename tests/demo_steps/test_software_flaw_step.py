"""The demo's software-flaw step, over real HTTP on loopback and on the real clock: a flaw the
tested model found in the developer's library is reported, coordinated, published once the
embargo passed and exported in every format that applies to software (OSV and CVE 5 included);
a second run files it again, and the clearinghouse closes it as a duplicate."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest
from jsonschema import Draft7Validator

from predeploy.demo._clearinghouse import Desk as Coordinators
from predeploy.demo._software_flaw import DEMO_CVE, FIXED_VERSION, LIBRARY, run_software_flaw
from tests.demo_steps.test_clearinghouse_step import DEVELOPER, MODEL, Desk
from tests.demo_steps.test_clearinghouse_step import clock as clock
from tests.demo_steps.test_clearinghouse_step import desk as desk

FINDER = {"developer": DEVELOPER, "model": MODEL, "version": "2026-12"}


def _coordinators(desk: Desk) -> Coordinators:
    return Coordinators(desk.analyst, desk.second_analyst, desk.vendor, desk.public,
                        desk.developer_org)  # fmt: skip


def _cve_schema() -> Draft7Validator:
    text = (resources.files("cvelib") / "schemas" / "CVE_JSON_bundled_5.1.1.json").read_text()
    return Draft7Validator(json.loads(text))


@pytest.mark.slow
def test_a_flaw_the_model_found_is_published_and_exported_as_osv_and_cve(
    desk: Desk, tmp_path: Path
) -> None:
    outcome = run_software_flaw(desk.evaluator, _coordinators(desk), FINDER, tmp_path / "one")

    assert outcome.duplicate_id is None
    vuln = desk.analyst.get_vuln(outcome.vuln_id)
    assert (vuln["kind"], vuln["status"], vuln["case_id"]) == (
        "software", "case_opened", outcome.case_id)  # fmt: skip
    assert vuln["provenance"]["discovered_by"] == "ai_system"
    assert vuln["provenance"]["system"]["model"] == f"{DEVELOPER}/{MODEL} 2026-12"
    (vendor,) = desk.analyst.get_case(outcome.case_number)["vendors"]
    assert [(s["status"], s["approved"]) for s in vendor["statuses"]] == [("fixed", True)]
    assert outcome.published_at >= outcome.embargo_end

    assert set(outcome.files) == {"osv", "cve5", "csaf", "csaf_vex", "stix"}
    assert set(outcome.skipped) == {"avid"}  # AVID catalogues flaws of AI systems
    osv = json.loads(outcome.files["osv"].read_text())
    assert DEMO_CVE in osv["aliases"]
    (affected,) = osv["affected"]
    assert affected["package"] == {"ecosystem": "PyPI", "name": LIBRARY,
                                   "purl": f"pkg:pypi/{LIBRARY}"}  # fmt: skip
    assert {"fixed": FIXED_VERSION} in affected["ranges"][0]["events"]
    record = json.loads(outcome.files["cve5"].read_text())
    assert record["cveMetadata"]["cveId"] == DEMO_CVE
    assert list(_cve_schema().iter_errors(record)) == []


@pytest.mark.slow
def test_a_second_run_finds_the_first_disclosure_and_exports_it_again(
    desk: Desk, tmp_path: Path
) -> None:
    first = run_software_flaw(desk.evaluator, _coordinators(desk), FINDER, tmp_path / "one")
    later = {**FINDER, "version": "2027-01"}
    second = run_software_flaw(desk.evaluator, _coordinators(desk), later, tmp_path / "two")

    assert second.duplicate_id is not None and second.duplicate_id != first.vuln_id
    again = desk.analyst.get_vuln(second.duplicate_id)
    assert (again["status"], again["duplicate_of"]) == ("duplicate", first.vuln_id)
    assert (second.vuln_id, second.case_number, second.advisory_number) == (
        first.vuln_id, first.case_number, first.advisory_number)  # fmt: skip
    assert [a["number"] for a in desk.public.list_advisories()] == [first.advisory_number]
    assert {fmt: path.read_bytes() for fmt, path in second.files.items()} == {
        fmt: path.read_bytes() for fmt, path in first.files.items()
    }
