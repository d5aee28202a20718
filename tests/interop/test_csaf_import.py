"""CSAF 2.0 import: the OASIS examples import (Red Hat, Cisco, BSI and the VEX use cases); a
document merges with OSV records by alias; re-import is idempotent; our own CSAF export imports
back and defender checks match its packages; bad documents are reported by file and field and
nothing of them is written; labels above the import's are refused."""

from __future__ import annotations

import copy
import io
import json
import zipfile
from pathlib import Path
from typing import Any

from predeploy.interop._osv import osv_validator
from predeploy.interop.models import ImportedAdvisory
from tests.clearinghouse.conftest import SOFTWARE_VULN, Community, Run, body
from tests.clearinghouse.conftest import community as community
from tests.clearinghouse.conftest import run as run
from tests.interop.test_csaf import SCHEMAS
from tests.interop.test_cve5 import publish
from tests.interop.test_osv import RECORD, counts, exported, imported, send, table_count
from tests.shared_data import shared_data

EXAMPLES = SCHEMAS / "examples" / "csaf"

DOCUMENT: dict[str, Any] = {
    "document": {
        "category": "csaf_security_advisory",
        "csaf_version": "2.0",
        "title": "Heap overflow in examplelib",
        "publisher": {"category": "vendor", "name": "Example Inc", "namespace": "https://example.org"},
        "distribution": {"tlp": {"label": "WHITE"}},
        "notes": [{"category": "summary", "text": "A long header overflows a buffer."}],
        "references": [{"category": "self", "summary": "this", "url": "https://example.org/sa-1"}],
        "tracking": {
            "id": "EXAMPLE-SA-2099-1",
            "status": "final",
            "version": "1",
            "initial_release_date": "2099-01-01T00:00:00+01:00",
            "current_release_date": "2099-01-02T03:04:05.000Z",
            "revision_history": [
                {"number": "1", "date": "2099-01-01T00:00:00Z", "summary": "Initial"}
            ],
        },
    },
    "product_tree": {
        "branches": [{"category": "vendor", "name": "Example", "branches": [{
            "category": "product_name", "name": "example-lib", "branches": [
                {"category": "product_version_range", "name": "vers:pypi/>=1.0|<1.10",
                 "product": {"product_id": "RANGE", "name": "example-lib >=1.0,<1.10",
                             "product_identification_helper": {"purl": "pkg:pypi/example-lib"}}},
                {"category": "product_version", "name": "0.9",
                 "product": {"product_id": "OLD", "name": "example-lib 0.9",
                             "product_identification_helper": {"purl": "pkg:pypi/example-lib@0.9"}}},
                {"category": "product_version", "name": "1.10",
                 "product": {"product_id": "FIXED", "name": "example-lib 1.10",
                             "product_identification_helper": {"purl": "pkg:pypi/example-lib@1.10"}}},
            ]}]}],
        "full_product_names": [{"product_id": "APPLIANCE", "name": "Example Appliance 3",
                                "product_identification_helper": {
                                    "cpe": "cpe:2.3:h:example:appliance:3:*:*:*:*:*:*:*"}}],
    },
    "vulnerabilities": [{
        "cve": "CVE-2099-0001",
        "notes": [{"category": "description", "text": "Heap overflow in header parsing."}],
        "ids": [{"system_name": "GitHub", "text": "GHSA-aaaa-bbbb-cccc"},
                {"system_name": "Bugzilla", "text": "https://bugs.example.org/1"}],
        "product_status": {"known_affected": ["RANGE", "OLD", "APPLIANCE"], "fixed": ["FIXED"]},
        "scores": [{"products": ["RANGE"], "cvss_v3": {
            "version": "3.1", "vectorString": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            "baseScore": 9.8, "baseSeverity": "CRITICAL"}}],
    }],
}  # fmt: skip


def document(**changes: Any) -> dict[str, Any]:
    result = copy.deepcopy(DOCUMENT)
    result["document"].update(changes)
    return result


def imported_csaf(community: Community, doc: dict[str, Any], **params: Any) -> dict[str, Any]:
    response = send(community, json.dumps(doc).encode(), "application/json", format="csaf",
                    filename="sa.json", **params)  # fmt: skip
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def check(community: Community, requirements: str) -> list[dict[str, Any]]:
    response = community.api.http.post(
        "/api/v1/check", content=requirements.encode(),
        headers={**community.analyst.headers, "Content-Type": "text/plain"},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    affected: list[dict[str, Any]] = response.json()["affected"]
    return affected


def test_a_document_imports_in_the_osv_shape_and_defender_checks_match_it(
    community: Community,
) -> None:
    assert counts(imported_csaf(community, DOCUMENT)) == (1, 0, 0, 0)
    record = exported(community, "EXAMPLE-SA-2099-1")
    assert list(osv_validator().iter_errors(record)) == []
    assert record["id"] == "x_EXAMPLE-SA-2099-1"  # not one of OSV's home databases
    assert record["modified"] == "2099-01-02T03:04:05Z"
    assert record["published"] == "2098-12-31T23:00:00Z"  # +01:00 in UTC
    # GitHub's id is an OSV id; a bug tracker's URL is not an advisory's alias.
    assert record["aliases"] == ["CVE-2099-0001", "EXAMPLE-SA-2099-1", "GHSA-aaaa-bbbb-cccc"]
    assert record["affected"] == [{
        "package": {"ecosystem": "PyPI", "name": "example-lib", "purl": "pkg:pypi/example-lib"},
        "versions": ["0.9"],
        "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "1.0"}, {"fixed": "1.10"}]}],
    }]  # fmt: skip
    products = record["database_specific"]["csaf"]["products"]
    assert {(p["name"], p["status"]) for p in products} == {
        ("Example Appliance 3", "affected"), ("example-lib 1.10", "fixed")}  # fmt: skip
    assert record["severity"] == [
        {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]  # fmt: skip
    assert record["references"] == [{"type": "ADVISORY", "url": "https://example.org/sa-1"}]

    found = check(community, "example-lib==0.9\nexample-lib==1.2\nexample-lib==1.10\n")
    assert sorted(f["component"]["version"] for f in found) == ["0.9", "1.2"]


def test_a_document_and_osv_records_for_the_same_cve_are_one_advisory(
    community: Community,
) -> None:
    imported(community, RECORD)  # PYSEC-2099-1, alias CVE-2099-0001
    assert counts(imported_csaf(community, DOCUMENT)) == (0, 1, 0, 0)
    assert table_count(community, ImportedAdvisory) == 1
    merged = exported(community, "EXAMPLE-SA-2099-1")
    assert merged["id"] == "PYSEC-2099-1"
    assert {"x_EXAMPLE-SA-2099-1", "GHSA-aaaa-bbbb-cccc"} <= set(merged["aliases"])
    # Re-importing the same document changes nothing; a newer one updates.
    assert counts(imported_csaf(community, DOCUMENT)) == (0, 0, 1, 0)
    newer = copy.deepcopy(DOCUMENT)
    newer["document"]["tracking"]["current_release_date"] = "2099-02-01T00:00:00Z"
    assert counts(imported_csaf(community, newer)) == (0, 1, 0, 0)


def test_bad_documents_are_reported_by_file_and_field_and_write_nothing(
    community: Community,
) -> None:
    untitled = copy.deepcopy(DOCUMENT)
    del untitled["document"]["title"]
    undefined = copy.deepcopy(DOCUMENT)
    undefined["vulnerabilities"][0]["product_status"]["known_affected"].append("NOWHERE")
    amber = document(distribution={"tlp": {"label": "AMBER"}})
    green = document(distribution={"tlp": {"label": "GREEN"}})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for name, doc in (("untitled", untitled), ("undefined", undefined), ("amber", amber),
                          ("green", green)):  # fmt: skip
            bundle.writestr(f"docs/{name}.json", json.dumps(doc))
        bundle.writestr("docs/broken.json", "{")
    response = send(community, buffer.getvalue(), "application/zip", format="csaf",
                    filename="docs.zip")  # fmt: skip
    assert response.status_code == 200, response.text
    rejected = {r["file"]: r for r in response.json()["rejected"]}
    assert counts(response.json()) == (0, 0, 0, 5)
    assert "title" in rejected["docs.zip:docs/untitled.json"]["message"]
    assert "6.1.1" in rejected["docs.zip:docs/undefined.json"]["message"]
    assert rejected["docs.zip:docs/amber.json"]["field"] == "document.distribution.tlp.label"
    assert "carry no recipients" in rejected["docs.zip:docs/amber.json"]["message"]
    assert "import it as GREEN" in rejected["docs.zip:docs/green.json"]["message"]
    assert "not valid JSON" in rejected["docs.zip:docs/broken.json"]["message"]
    assert table_count(community, ImportedAdvisory) == 0
    # A GREEN document imports as GREEN, and a YAML file is not a CSAF document.
    assert counts(imported_csaf(community, green, tlp="GREEN")) == (1, 0, 0, 0)
    yaml_upload = send(community, b"a: 1", "application/yaml", format="csaf")
    assert yaml_upload.status_code == 422
    assert "for format=csaf" in yaml_upload.json()["error"]["message"]


def test_our_own_csaf_export_imports_back_and_matches(community: Community) -> None:
    number = publish(community, community.file(body(SOFTWARE_VULN)),
                     references=[{"type": "FIX", "url": "https://example.org/fix"}])  # fmt: skip
    ours = community.get(None, f"/api/v1/clearinghouse/advisories/{number}/export", format="csaf")
    assert counts(imported_csaf(community, ours.json()["content"])) == (1, 0, 0, 0)
    record = exported(community, "CVE-2026-12345")
    assert record["id"] == f"x_{number}"
    assert record["affected"][0]["ranges"] == [
        {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.4.1"}]}]  # fmt: skip
    # Both match: our advisory itself, and its CSAF document as imported.
    found = check(community, "libexample==2.4.0\n")
    assert sorted(f["advisory"] for f in found) == [number, f"x_{number}"]
    assert check(community, "libexample==2.4.1\n") == []


def oasis_examples() -> list[Path]:
    return sorted(shared_data("schemas/csaf-2.0/examples/csaf").rglob("*.json"))


def test_the_oasis_examples_import(community: Community, run: Run, tmp_path: Path) -> None:
    files = oasis_examples()
    result = run(community.analyst, "advisories", "import", str(EXAMPLES), "--format", "csaf")
    assert result.exit_code == 0, result.output
    imported_, updated, unchanged = (int(w) for w in result.stdout.split()[0:6:2])
    assert (imported_ + updated, unchanged) == (len(files), 0), result.stdout
    assert "0 rejected" in result.stdout
    # Documents that share a CVE are one advisory (the log4j VEX use cases).
    log4j = exported(community, "CVE-2021-44228")
    assert {"x_2022-EVD-UC-01-A-001", "x_2022-EVD-UC-04-001"} <= {log4j["id"], *log4j["aliases"]}
    for reference in ("RHSA-2022:0011", "BSI-2022-0001", "cisco-sa-20180328-smi2"):
        assert list(osv_validator().iter_errors(exported(community, reference))) == []
    again = run(community.analyst, "advisories", "import", str(EXAMPLES), "--format", "csaf")
    assert f"0 imported, 0 updated, {len(files)} unchanged, 0 rejected" in again.stdout
    wrong = run(community.analyst, "advisories", "import", str(EXAMPLES), "--format", "cvrf")
    assert wrong.exit_code != 0 and "format" in wrong.output
