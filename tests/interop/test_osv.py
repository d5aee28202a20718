"""OSV import and export through the API and CLI: JSON, YAML, folders and zip bundles; alias
merging; idempotent re-import and updates on `modified`; bad records reported by file and field
while the good ones import; exports valid against the OSV schema, equal to what was imported; a
format that does not apply is refused naming those that do; the real PyPA set imports cleanly."""

from __future__ import annotations

import copy
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select

from predeploy.interop._osv import osv_validator
from predeploy.interop.models import AdvisoryAlias, AffectedPackage, ImportedAdvisory
from tests.clearinghouse.conftest import Community, Run
from tests.clearinghouse.conftest import community as community
from tests.clearinghouse.conftest import run as run
from tests.conftest import Caller
from tests.shared_data import shared_data

IMPORT = "/api/v1/clearinghouse/advisories/import"
ADVISORIES = "/api/v1/clearinghouse/advisories"

RECORD: dict[str, Any] = {
    "id": "PYSEC-2099-1",
    "modified": "2099-01-02T03:04:05Z",
    "published": "2099-01-01T00:00:00Z",
    "aliases": ["CVE-2099-0001"],
    "summary": "Heap overflow in examplelib",
    "details": "A long header overflows a buffer.",
    "affected": [{
        "package": {"ecosystem": "PyPI", "name": "Example_Lib", "purl": "pkg:pypi/example-lib"},
        "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.10"}]}],
        "versions": ["1.9", "1.10rc1"],
    }],
    "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
    "references": [{"type": "FIX", "url": "https://example.org/fix"}],
}  # fmt: skip


def record(**changes: Any) -> dict[str, Any]:
    result = copy.deepcopy(RECORD)
    result.update(changes)
    return result


def send(community: Community, content: bytes, media_type: str, caller: Caller | None = None,
         **params: Any) -> Any:  # fmt: skip
    caller = caller or community.analyst
    response = community.api.http.post(
        IMPORT, content=content, params=params,
        headers={**caller.headers, "Content-Type": media_type},
    )  # fmt: skip
    return response


def imported(community: Community, *records: dict[str, Any]) -> dict[str, Any]:
    response = send(community, json.dumps(list(records)).encode(), "application/json")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def counts(summary: dict[str, Any]) -> tuple[int, int, int, int]:
    return (summary["imported"], summary["updated"], summary["unchanged"],
            len(summary["rejected"]))  # fmt: skip


def exported(community: Community, ref: str, caller: Caller | None = None) -> dict[str, Any]:
    response = community.get(caller, f"{ADVISORIES}/{ref}/export", format="osv")
    assert response.status_code == 200, response.text
    content: dict[str, Any] = response.json()["content"]
    return content


def table_count(community: Community, table: Any) -> int:
    with community.api.runtime.sessions() as session:
        return session.scalar(select(func.count()).select_from(table)) or 0


def test_a_record_imports_and_exports_unchanged_and_valid(community: Community) -> None:
    assert counts(imported(community, RECORD)) == (1, 0, 0, 0)
    # Public: no token needed, by its id or any alias.
    for ref in ("PYSEC-2099-1", "CVE-2099-0001"):
        assert exported(community, ref) == RECORD
    assert list(osv_validator().iter_errors(exported(community, "PYSEC-2099-1"))) == []
    with community.api.runtime.sessions() as session:
        package = session.scalars(select(AffectedPackage)).one()
    assert (package.ecosystem, package.name) == ("PyPI", "example-lib")


def test_yaml_keeps_versions_and_timestamps_as_written(community: Community) -> None:
    text = yaml.safe_dump(record()).replace("'1.10'", "1.10").replace("'1.9'", "1.9")
    # Unquoted YAML numbers, as real OSV YAML has them: 1.10 must not become 1.1.
    assert "fixed: 1.10\n" in text and "- 1.9\n" in text
    response = send(community, text.encode(), "application/yaml", filename="PYSEC-2099-1.yaml")
    assert response.status_code == 200, response.text
    out = exported(community, "PYSEC-2099-1")
    assert out["affected"][0]["versions"] == ["1.9", "1.10rc1"]
    assert out["affected"][0]["ranges"][0]["events"][1] == {"fixed": "1.10"}
    assert out["modified"] == "2099-01-02T03:04:05Z"


def test_reimport_is_idempotent_and_updates_only_on_a_newer_modified(community: Community) -> None:
    imported(community, RECORD)
    assert counts(imported(community, RECORD)) == (0, 0, 1, 0)
    older = record(modified="2098-01-01T00:00:00Z", summary="older")
    assert counts(imported(community, older)) == (0, 0, 1, 0)
    newer = record(modified="2099-06-01T00:00:00Z", summary="Heap overflow, now fixed in 1.10")
    assert counts(imported(community, newer)) == (0, 1, 0, 0)
    assert exported(community, "PYSEC-2099-1")["summary"] == "Heap overflow, now fixed in 1.10"
    assert table_count(community, ImportedAdvisory) == 1
    assert table_count(community, AffectedPackage) == 1


def test_records_sharing_an_alias_are_one_advisory(community: Community) -> None:
    ghsa = record(id="GHSA-aaaa-bbbb-cccc", aliases=["CVE-2099-0001"],
                  affected=[{"package": {"ecosystem": "npm", "name": "example-js"},
                             "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}]}]}])  # fmt: skip
    summary = imported(community, RECORD, ghsa)
    assert counts(summary) == (1, 1, 0, 0)
    merged = exported(community, "GHSA-aaaa-bbbb-cccc")
    assert merged["id"] == "PYSEC-2099-1"
    assert merged["aliases"] == ["CVE-2099-0001", "GHSA-aaaa-bbbb-cccc"]
    assert [a["package"]["name"] for a in merged["affected"]] == ["Example_Lib", "example-js"]
    # A newer version of the first record keeps what the merged one brought: its id among the
    # aliases, and its affected package (so that checks still match it).
    imported(community, record(modified="2099-06-01T00:00:00Z", summary="Updated"))
    updated = exported(community, "PYSEC-2099-1")
    assert updated["aliases"] == ["CVE-2099-0001", "GHSA-aaaa-bbbb-cccc"]
    assert updated["summary"] == "Updated"
    assert [a["package"]["name"] for a in updated["affected"]] == ["Example_Lib", "example-js"]
    assert table_count(community, AffectedPackage) == 2
    # A record that links two advisories merges them.
    other = record(id="PYSEC-2099-2", aliases=["CVE-2099-0002"])
    imported(community, other)
    assert table_count(community, ImportedAdvisory) == 2
    bridge = record(id="OSV-2099-9", aliases=["CVE-2099-0001", "CVE-2099-0002"])
    assert counts(imported(community, bridge)) == (0, 1, 0, 0)
    assert table_count(community, ImportedAdvisory) == 1
    ids = exported(community, "CVE-2099-0002")["aliases"]
    assert {"CVE-2099-0002", "PYSEC-2099-2", "OSV-2099-9"} <= set(ids)
    assert table_count(community, AdvisoryAlias) == 6


def test_bad_records_are_reported_by_file_and_field_and_the_rest_import(
    community: Community,
) -> None:
    buffer = io.BytesIO()
    bad_event = record(id="PYSEC-2099-3")
    bad_event["affected"][0]["ranges"][0]["events"] = [{"introduced": "0", "fixed": "2"}]
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr("good/PYSEC-2099-1.json", json.dumps(RECORD))
        bundle.writestr("bad/no-modified.json", json.dumps({"id": "PYSEC-2099-2"}))
        bundle.writestr("bad/event.json", json.dumps(bad_event))
        bundle.writestr("bad/broken.yaml", "id: [unclosed")
        bundle.writestr("README.md", "not a record")
    response = send(community, buffer.getvalue(), "application/zip", filename="all.zip")
    assert response.status_code == 200, response.text
    summary = response.json()
    assert counts(summary) == (1, 0, 0, 3) and summary["normalised"] == []
    by_file = {r["file"]: r for r in summary["rejected"]}
    assert set(by_file) == {"all.zip:bad/no-modified.json", "all.zip:bad/event.json",
                            "all.zip:bad/broken.yaml"}  # fmt: skip
    assert "modified" in by_file["all.zip:bad/no-modified.json"]["message"]
    assert by_file["all.zip:bad/event.json"]["field"] == "affected.0.ranges.0.events.0"
    assert by_file["all.zip:bad/broken.yaml"]["message"].startswith("not valid YAML")
    assert exported(community, "PYSEC-2099-1") == RECORD


def test_who_may_import_and_what_bad_uploads_get(community: Community) -> None:
    body = json.dumps(RECORD).encode()
    for caller, status in ((community.reporter, 403), (community.evaluator, 403)):
        assert send(community, body, "application/json", caller).status_code == status
    assert community.api.http.post(IMPORT, content=body).status_code == 401
    wrong_type = send(community, body, "text/plain")
    assert wrong_type.status_code == 422 and wrong_type.json()["error"]["field"] == "Content-Type"
    red = send(community, body, "application/json", tlp="RED")
    assert red.status_code == 422 and red.json()["error"]["field"] == "tlp"
    not_zip = send(community, b"PK but not really", "application/zip")
    assert not_zip.status_code == 200 and not_zip.json()["rejected"][0]["message"].startswith(
        "not a zip")  # fmt: skip
    assert table_count(community, ImportedAdvisory) == 0


def test_green_imports_reach_the_community_only(community: Community) -> None:
    response = send(community, json.dumps(RECORD).encode(), "application/json", tlp="GREEN")
    assert response.status_code == 200, response.text
    path = f"{ADVISORIES}/PYSEC-2099-1/export"
    assert community.get(community.participant, path).status_code == 200
    for caller in (None, community.vendor, community.developer):
        assert community.get(caller, path).status_code == 404


def publish_software_and_model(community: Community) -> tuple[str, str]:
    """Publish an advisory about a PyPI package and one about an AI model; their numbers."""
    from tests.clearinghouse.conftest import AI_MODEL_VULN, SOFTWARE_VULN, body
    from tests.clearinghouse.test_advisories import (
        EMBARGO_END,  # fmt: skip
        _coordinating_case,
        _draft,
        _second_analyst,
    )

    clock = community.api.runtime.clock
    software = _coordinating_case(community, community.file(
        body(SOFTWARE_VULN, consent={"share": True, "credit": True})))  # fmt: skip
    model = _coordinating_case(community, community.file(AI_MODEL_VULN))
    second = _second_analyst(community)
    clock.set(EMBARGO_END)  # type: ignore[attr-defined]
    numbers = []
    for case in (software, model):
        draft = _draft(community, case).json()
        numbers.append(draft["number"])
        published = community.post(second, f"{ADVISORIES}/{draft['number']}/publish",
                                   {"sha256": draft["draft"]["sha256"]})  # fmt: skip
        assert published.status_code == 200, published.text
    return numbers[0], numbers[1]


def test_export_refuses_a_format_that_does_not_apply(community: Community) -> None:
    numbers = publish_software_and_model(community)
    osv = exported(community, numbers[0])
    assert list(osv_validator().iter_errors(osv)) == []
    assert osv["affected"][0]["package"] == {"ecosystem": "PyPI", "name": "libexample",
                                             "purl": "pkg:pypi/libexample"}  # fmt: skip
    assert osv["aliases"] == ["CVE-2026-12345"]
    assert {"name": "acme/finder-2 (fuzz-agent)", "type": "TOOL"} in osv["credits"]
    refused = community.get(None, f"{ADVISORIES}/{numbers[1]}/export", format="osv")
    assert refused.status_code == 422
    assert "osv does not apply" in refused.json()["error"]["message"]
    assert "formats that apply" in refused.json()["error"]["message"]


def test_the_cli_imports_a_folder_and_exports(
    community: Community, run: Run, tmp_path: Path
) -> None:
    folder = tmp_path / "vulns" / "example-lib"
    folder.mkdir(parents=True)
    (folder / "PYSEC-2099-1.yaml").write_text(yaml.safe_dump(RECORD))
    (folder / "broken.json").write_text("{")
    result = run(community.analyst, "advisories", "import", str(tmp_path / "vulns"))
    assert result.exit_code == 1, result.output
    assert "1 imported, 0 updated, 0 unchanged, 1 rejected" in result.stdout
    assert "example-lib/broken.json" in result.output
    public = Caller(token="", user_id="", org_id="")
    out = run(public, "advisories", "export", "CVE-2099-0001", "--out", str(tmp_path / "out"))
    assert out.exit_code == 0, out.output
    assert json.loads((tmp_path / "out" / "PYSEC-2099-1.osv.json").read_text()) == RECORD


@pytest.mark.slow
def test_the_real_pypa_set_imports_cleanly_and_round_trips(community: Community) -> None:
    pypa = shared_data("osv-pypa")
    buffer = io.BytesIO()
    files = sorted((pypa / "vulns").rglob("*.yaml"))
    with zipfile.ZipFile(buffer, "w") as bundle:
        for path in files:
            bundle.write(path, path.relative_to(pypa).as_posix())
    response = send(community, buffer.getvalue(), "application/zip", filename="pypa.zip")
    assert response.status_code == 200, response.text
    summary = response.json()
    assert summary["rejected"] == []
    assert summary["imported"] + summary["updated"] == len(files) == 2661
    # The documented normalisation: GIT ranges without full commit hashes are set aside.
    normalised = {n["file"] for n in summary["normalised"]}
    assert all("GIT range" in n["message"] for n in summary["normalised"])
    compared = 0
    for path in files:
        if f"pypa.zip:{path.relative_to(pypa).as_posix()}" in normalised:
            continue
        original = yaml.load(path.read_text(), Loader=yaml.BaseLoader)
        out = exported(community, original["id"])
        if out["id"] == original["id"] and out.get("aliases") == original.get("aliases"):
            assert out == original
            assert list(osv_validator().iter_errors(out)) == []
            compared += 1
        if compared == 100:
            break
    assert compared == 100
    again = send(community, buffer.getvalue(), "application/zip", filename="pypa.zip").json()
    assert again["unchanged"] == len(files) and again["imported"] == again["updated"] == 0


def test_yaml_aliases_are_refused(community: Community) -> None:
    bomb = b"a: &a [x, x, x]\nb: &b [*a, *a, *a]\nc: &c [*b, *b, *b]\nid: PYSEC-2099-1\n"
    response = send(community, bomb, "application/yaml", filename="bomb.yaml")
    assert response.status_code == 200, response.text
    (rejection,) = response.json()["rejected"]
    assert rejection == {"file": "bomb.yaml", "field": None,
                         "message": "YAML anchors and aliases are not accepted"}  # fmt: skip
