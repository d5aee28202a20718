"""`predeploy check` and `POST /api/v1/check`: requirements, CycloneDX and SPDX inventories matched
against imported advisories with OSV semantics; affected, undetermined and skipped components;
who sees which advisories; bad inventories; SARIF output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.clearinghouse.conftest import Community, Run
from tests.clearinghouse.conftest import community as community
from tests.clearinghouse.conftest import run as run
from tests.conftest import START, Caller

CHECK = "/api/v1/check"
IMPORT = "/api/v1/clearinghouse/advisories/import"

DJANGO: dict[str, Any] = {
    "id": "PYSEC-2099-10", "modified": "2099-01-01T00:00:00Z", "aliases": ["CVE-2099-1000"],
    "summary": "SQL injection in Django's QuerySet.order_by",
    "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
    "affected": [{"package": {"ecosystem": "PyPI", "name": "Django"},
                  "ranges": [{"type": "ECOSYSTEM", "events": [
                      {"introduced": "3.2"}, {"fixed": "3.2.14"},
                      {"introduced": "4.0"}, {"fixed": "4.0.6"}]}]}],
}  # fmt: skip
LODASH: dict[str, Any] = {
    "id": "GHSA-2099-aaaa-bbbb", "modified": "2099-01-01T00:00:00Z",
    "summary": "Prototype pollution in lodash",
    "affected": [{"package": {"ecosystem": "npm", "name": "lodash"},
                  "ranges": [{"type": "SEMVER", "events": [
                      {"introduced": "0"}, {"fixed": "4.17.21"}]}]}],
}  # fmt: skip
MAVEN: dict[str, Any] = {
    "id": "GHSA-2099-cccc-dddd", "modified": "2099-01-01T00:00:00Z",
    "affected": [{"package": {"ecosystem": "Maven", "name": "org.example:core"},
                  "ranges": [{"type": "ECOSYSTEM", "events": [
                      {"introduced": "0"}, {"fixed": "2.0"}]}]}],
}  # fmt: skip
WITHDRAWN = {**LODASH, "id": "GHSA-2099-eeee-ffff", "withdrawn": "2099-01-02T00:00:00Z"}


def load(community: Community, *records: dict[str, Any], tlp: str = "CLEAR") -> None:
    response = community.api.http.post(
        IMPORT, content=json.dumps(list(records)).encode(), params={"tlp": tlp},
        headers={**community.analyst.headers, "Content-Type": "application/json"},
    )  # fmt: skip
    assert response.status_code == 200 and not response.json()["rejected"], response.text


def check(community: Community, inventory: str | bytes, caller: Caller | None = None) -> Any:
    content = inventory.encode() if isinstance(inventory, str) else inventory
    caller = caller or community.participant
    return community.api.http.post(
        CHECK, content=content, headers={**caller.headers, "Content-Type": "text/plain"}
    )


def affected(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(f["component"]["name"], f["component"]["version"], f["advisory"])
            for f in result["affected"]]  # fmt: skip


def test_requirements_are_matched_with_pep440_boundaries(community: Community) -> None:
    load(community, DJANGO)
    requirements = "\n".join([
        "django==3.2.13      # affected: last before the fix",
        "Django==3.2.14      # the fix itself is not affected",
        "DJANGO==4.0.0",
        "django==3.1.9",
        "django>=3.2         # not pinned",
        "requests==2.31.0 \\",
        "    --hash=sha256:942c5a758f98d790eaed1a29cb6eefc7ffb0d1cf7af05c3d2791656dbd6ad1e1",
        "-r other.txt",
    ])  # fmt: skip
    response = check(community, requirements)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["format"] == "requirements" and result["components"] == 5
    assert affected(result) == [("django", "3.2.13", "PYSEC-2099-10"),
                                ("DJANGO", "4.0.0", "PYSEC-2099-10")]  # fmt: skip
    finding = result["affected"][0]
    assert finding["aliases"] == ["CVE-2099-1000"] and finding["fixed"] == ["3.2.14", "4.0.6"]
    assert finding["severity"] == {"vector": DJANGO["severity"][0]["score"],
                                   "base_score": 9.8, "rating": "Critical"}  # fmt: skip
    assert [s["name"] for s in result["skipped"]] == ["django"]


def test_cyclonedx_and_spdx_components_are_matched_by_purl(community: Community) -> None:
    load(community, DJANGO, LODASH, MAVEN, WITHDRAWN)
    cyclonedx = {"bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1, "components": [
        {"type": "library", "name": "lodash", "version": "4.17.20", "bom-ref": "lodash",
         "purl": "pkg:npm/lodash@4.17.20",
         "components": [{"type": "library", "name": "django", "version": "4.0.5",
                         "bom-ref": "django", "purl": "pkg:pypi/django@4.0.5"}]},
        {"type": "library", "name": "core", "version": "1.0", "bom-ref": "core",
         "purl": "pkg:maven/org.example/core@1.0"},
        {"type": "library", "name": "mystery", "version": "1.0", "bom-ref": "mystery"},
    ]}  # fmt: skip
    result = check(community, json.dumps(cyclonedx)).json()
    assert result["format"] == "cyclonedx"
    assert affected(result) == [("django", "4.0.5", "PYSEC-2099-10"),
                                ("lodash", "4.17.20", "GHSA-2099-aaaa-bbbb")]  # fmt: skip
    # Maven has no version order here: undetermined, never a false all-clear.
    assert [f["advisory"] for f in result["undetermined"]] == ["GHSA-2099-cccc-dddd"]
    assert [s["ref"] for s in result["skipped"]] == ["mystery"]

    spdx = {"spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT",
            "name": "app", "documentNamespace": "https://example.org/app",
            "creationInfo": {"created": "2099-01-01T00:00:00Z", "creators": ["Tool: test"]},
            "packages": [{"SPDXID": "SPDXRef-lodash", "name": "lodash", "versionInfo": "4.17.21",
                          "downloadLocation": "NOASSERTION", "externalRefs": [
                              {"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                               "referenceLocator": "pkg:npm/lodash@4.17.21"}]}]}  # fmt: skip
    result = check(community, json.dumps(spdx)).json()
    assert (result["format"], result["components"], result["affected"]) == ("spdx", 1, [])


def test_green_advisories_match_for_the_community_only(community: Community) -> None:
    load(community, DJANGO, tlp="GREEN")
    assert affected(check(community, "django==3.2.0").json()) == [
        ("django", "3.2.0", "PYSEC-2099-10")]  # fmt: skip
    assert check(community, "django==3.2.0", community.vendor).json()["affected"] == []
    anonymous = community.api.http.post(CHECK, content=b"django==3.2.0")
    assert anonymous.status_code == 401


def test_bad_inventories_are_refused_naming_the_field(community: Community) -> None:
    for inventory in ("{not json", '{"bomFormat": "Other"}', "django===", b"\xff\xfe\x00"):
        response = check(community, inventory)
        assert response.status_code == 422, (inventory, response.text)
        assert response.json()["error"]["field"] == "sbom"
    bad_spdx = check(community, json.dumps({"spdxVersion": "SPDX-2.3"}))
    assert bad_spdx.status_code == 422 and "SPDX" in bad_spdx.json()["error"]["message"]


def test_the_cli_prints_a_table_json_or_sarif_and_exits_1_when_affected(
    community: Community, run: Run, tmp_path: Path
) -> None:
    load(community, DJANGO)
    vulnerable = tmp_path / "requirements.txt"
    vulnerable.write_text("django==3.2.0\n")
    table = run(community.participant, "check", str(vulnerable))
    assert table.exit_code == 1, table.output
    assert "PYSEC-2099-10" in table.stdout and "3.2.14, 4.0.6" in table.stdout
    sarif = run(community.participant, "check", str(vulnerable), "--format", "sarif")
    assert sarif.exit_code == 1
    log = json.loads(sarif.stdout)
    assert log["version"] == "2.1.0"
    (result,) = log["runs"][0]["results"]
    assert (result["ruleId"], result["level"]) == ("PYSEC-2099-10", "error")
    clean = tmp_path / "clean.txt"
    clean.write_text("django==4.0.6\n")
    fine = run(community.participant, "check", str(clean), "--format", "json")
    assert fine.exit_code == 0, fine.output
    assert json.loads(fine.stdout)["affected"] == []


def test_our_published_advisories_match_for_whoever_sees_them(community: Community) -> None:
    from tests.clearinghouse.conftest import SOFTWARE_VULN, body
    from tests.interop.test_cve5 import publish

    public = publish(community, community.file(SOFTWARE_VULN))  # libexample < 2.4.1, CLEAR
    recipients = {"orgs": [community.recipient.org_id], "users": []}
    amber_vuln = body(SOFTWARE_VULN, affected=[{"purl": "pkg:npm/left-pad", "versions": ["1.3.0"]}])
    community.api.runtime.clock.set(START)  # type: ignore[attr-defined]  # a new embargo
    amber = publish(community, community.file(amber_vuln), tlp="AMBER", recipients=recipients)
    inventory = "libexample==2.4.0\nlibexample==2.4.1\n"
    result = check(community, inventory).json()
    (finding,) = result["affected"]
    assert (finding["component"]["version"], finding["advisory"]) == ("2.4.0", public)
    assert finding["aliases"] == ["CVE-2026-12345"]
    assert finding["fixed"] == ["2.4.1"]
    assert finding["severity"]["base_score"] == 9.8
    cyclonedx = json.dumps({
        "bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1,
        "components": [{"type": "library", "name": "left-pad", "version": "1.3.0",
                        "purl": "pkg:npm/left-pad@1.3.0", "bom-ref": "lp"}],
    })  # fmt: skip
    assert check(community, cyclonedx, community.participant).json()["affected"] == []
    seen = check(community, cyclonedx, community.recipient).json()["affected"]
    assert [f["advisory"] for f in seen] == [amber]
