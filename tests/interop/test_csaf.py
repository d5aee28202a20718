"""CSAF 2.0 export: `csaf_security_advisory` and `csaf_vex` documents valid against the OASIS
schema (from `../shared/data`, FIRST's CVSS schemas mapped locally) and passing the mandatory
tests that apply; TLP mapped to CSAF 2.0's labels; an AI model as the product; the checker
itself catching what it must."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from predeploy.interop._csaf_checks import mandatory_problems
from tests.clearinghouse.conftest import AI_MODEL_VULN, SOFTWARE_VULN, Community, body
from tests.clearinghouse.conftest import community as community
from tests.interop.test_cve5 import publish
from tests.shared_data import SHARED_DATA, shared_data

ADVISORIES = "/api/v1/clearinghouse/advisories"
SCHEMAS = SHARED_DATA / "schemas" / "csaf-2.0"


@pytest.fixture(scope="module")
def csaf_schema() -> Draft202012Validator:
    shared_data("schemas/csaf-2.0")
    first = SCHEMAS / "referenced_schema" / "first"
    registry: Registry[Any] = Registry().with_resources(
        (f"https://www.first.org/cvss/{name}.json",
         Resource.from_contents(json.loads((first / f"{name}.json").read_text())))
        for name in ("cvss-v2.0", "cvss-v3.0", "cvss-v3.1")
    )  # fmt: skip
    schema = json.loads((SCHEMAS / "json_schema" / "csaf_json_schema.json").read_text())
    return Draft202012Validator(schema, registry=registry)


def export(community: Community, number: str, fmt: str) -> dict[str, Any]:
    response = community.get(None, f"{ADVISORIES}/{number}/export", format=fmt)
    assert response.status_code == 200, response.text
    content: dict[str, Any] = response.json()["content"]
    return content


def errors(validator: Draft202012Validator, document: dict[str, Any]) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


def test_a_software_advisory_is_valid_csaf_and_vex(
    community: Community, csaf_schema: Draft202012Validator
) -> None:
    credited = body(SOFTWARE_VULN, consent={"share": True, "credit": True})
    number = publish(community, community.file(credited),
                     references=[{"type": "FIX", "url": "https://example.org/fix"}])  # fmt: skip
    advisory = export(community, number, "csaf")
    assert errors(csaf_schema, advisory) == [] and mandatory_problems(advisory) == []
    meta = advisory["document"]
    assert meta["category"] == "csaf_security_advisory"
    assert meta["distribution"]["tlp"]["label"] == "WHITE"  # CLEAR in CSAF 2.0's words
    assert meta["tracking"]["id"] == number and meta["tracking"]["version"] == "1"
    (vulnerability,) = advisory["vulnerabilities"]
    assert vulnerability["cve"] == "CVE-2026-12345"
    assert vulnerability["cwe"] == {"id": "CWE-787", "name": "Out-of-bounds Write"}
    names = {p["product_id"]: p["name"] for p in _products(advisory["product_tree"])}
    status = vulnerability["product_status"]
    assert [names[p] for p in status["known_affected"]] == ["pypi libexample vers:pypi/<2.4.1"]
    assert sorted(names[p] for p in status["fixed"]) == [
        "Vendor Only Inc products named in its statement all", "pypi libexample 2.4.1"]  # fmt: skip
    assert vulnerability["scores"][0]["cvss_v3"]["baseScore"] == 9.8

    vex = export(community, number, "csaf_vex")
    assert errors(csaf_schema, vex) == [] and mandatory_problems(vex) == []
    assert vex["document"]["category"] == "csaf_vex"


def test_an_ai_model_flaw_is_csaf_with_the_model_as_product(
    community: Community, csaf_schema: Draft202012Validator
) -> None:
    number = publish(community, community.file(body(AI_MODEL_VULN, tlp="GREEN")), tlp="CLEAR")
    for fmt in ("csaf", "csaf_vex"):
        document = export(community, number, fmt)
        assert errors(csaf_schema, document) == [] and mandatory_problems(document) == []
    (vendor,) = [b for b in document["product_tree"]["branches"] if b["name"] == "Acme AI"]
    model = vendor["branches"][0]
    assert model["name"] == "falcon"
    assert model["branches"][0]["product"]["product_identification_helper"] == {
        "model_numbers": ["2026-11-01"]}  # fmt: skip


def test_amber_strict_becomes_amber_with_the_restriction_written(
    community: Community, csaf_schema: Draft202012Validator
) -> None:
    recipients = {"orgs": [community.recipient.org_id], "users": []}
    number = publish(community, community.file(SOFTWARE_VULN), tlp="AMBER+STRICT",
                     recipients=recipients)  # fmt: skip
    response = community.get(community.recipient, f"{ADVISORIES}/{number}/export", format="csaf")
    assert response.status_code == 200, response.text
    document = response.json()["content"]
    assert errors(csaf_schema, document) == []
    distribution = document["document"]["distribution"]
    assert distribution["tlp"]["label"] == "AMBER"
    assert "AMBER+STRICT" in distribution["text"] and "not with its clients" in distribution["text"]
    assert community.get(None, f"{ADVISORIES}/{number}/export", format="csaf").status_code == 404


def _products(tree: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for branch in tree.get("branches", []):
        if "product" in branch:
            found.append(branch["product"])
        found.extend(_products(branch))
    return found


def test_the_checker_catches_what_the_mandatory_tests_forbid(community: Community) -> None:
    number = publish(community, community.file(SOFTWARE_VULN),
                     references=[{"type": "WEB", "url": "https://example.org/a"}])  # fmt: skip
    good = export(community, number, "csaf_vex")
    assert mandatory_problems(good) == []
    (vulnerability,) = good["vulnerabilities"]
    first = vulnerability["product_status"]["known_affected"][0]

    def broken(change: Any) -> list[str]:
        document = copy.deepcopy(good)
        change(document)
        return [p.split(" ", 1)[0] for p in mandatory_problems(document)]

    def contradict(d: dict[str, Any]) -> None:
        d["vulnerabilities"][0]["product_status"].setdefault("fixed", []).append(first)

    def undefined(d: dict[str, Any]) -> None:
        d["vulnerabilities"][0]["product_status"]["known_affected"].append("CSAFPID-9999")

    def wrong_score(d: dict[str, Any]) -> None:
        d["vulnerabilities"][0]["scores"][0]["cvss_v3"]["baseScore"] = 5.0

    def unsorted(d: dict[str, Any]) -> None:
        history = d["document"]["tracking"]["revision_history"]
        history.append({**history[0], "number": "2", "date": "2000-01-01T00:00:00+00:00"})
        d["document"]["tracking"]["version"] = "2"

    def no_action(d: dict[str, Any]) -> None:
        d["vulnerabilities"][0].pop("remediations")

    def no_label(d: dict[str, Any]) -> None:
        d["document"]["distribution"].pop("tlp")

    assert broken(contradict) == ["6.1.6"]
    assert broken(undefined) == ["6.1.1", "6.1.27.10"]
    assert broken(wrong_score) == ["6.1.9"]
    assert broken(unsorted) == ["6.1.14"]
    assert broken(no_action) == ["6.1.27.10"]
    assert broken(no_label) == ["document.distribution.tlp.label:"]


def test_the_checker_passes_the_oasis_examples(csaf_schema: Draft202012Validator) -> None:
    examples = sorted((SCHEMAS / "examples" / "csaf").rglob("*.json"))
    assert len(examples) >= 19
    for path in examples:
        document = json.loads(path.read_text())
        assert mandatory_problems(document, require_tlp=False) == [], path.name
    assert errors(csaf_schema, {"document": {}}) != []
