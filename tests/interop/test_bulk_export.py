"""Bulk export (`GET /clearinghouse/exports`, `predeploy advisories export --all`): every published
advisory the caller may see, in one format where it applies, with the others listed and why;
nothing the caller may not see."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

from predeploy.interop._osv import osv_validator
from tests.clearinghouse.conftest import SOFTWARE_VULN, Community, Run, body
from tests.clearinghouse.conftest import community as community
from tests.clearinghouse.conftest import run as run
from tests.conftest import Caller
from tests.interop.test_cve5 import publish
from tests.interop.test_osv import publish_software_and_model

EXPORTS = "/api/v1/clearinghouse/exports"


def bundle(community: Community, caller: Caller | None, fmt: str) -> dict[str, Any]:
    response = community.get(caller, EXPORTS, format=fmt)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        return {name: json.loads(archive.read(name)) for name in archive.namelist()}


def test_every_visible_advisory_in_one_format(community: Community) -> None:
    software, model = publish_software_and_model(community)
    files = bundle(community, None, "osv")
    assert sorted(files) == [f"{software}.osv.json", "index.json"]
    assert list(osv_validator().iter_errors(files[f"{software}.osv.json"])) == []
    (skipped,) = files["index.json"]["skipped"]
    assert skipped["id"] == model and "osv does not apply" in skipped["reason"]
    assert sorted(bundle(community, None, "stix")) == sorted(
        [f"{software}.stix.json", f"{model}.stix.json", "index.json"])  # fmt: skip
    assert sorted(bundle(community, None, "avid")) == [f"{model}.avid.json", "index.json"]
    # The software advisory has no reference, which a CVE record needs: left out, and why.
    cve5 = bundle(community, None, "cve5")["index.json"]
    assert cve5["exported"] == []
    assert [s["id"] for s in cve5["skipped"]] == [software, model]
    assert "cve5 does not apply" in cve5["skipped"][0]["reason"]
    assert "needs at least one reference" in cve5["skipped"][0]["reason"]


def test_a_cve_record_per_cve(community: Community) -> None:
    publish(community, community.file(SOFTWARE_VULN),
            references=[{"type": "FIX", "url": "https://example.org/fix"}])  # fmt: skip
    assert sorted(bundle(community, None, "cve5")) == ["CVE-2026-12345.cve5.json", "index.json"]


def test_only_what_the_caller_may_see(community: Community) -> None:
    recipients = {"orgs": [community.recipient.org_id], "users": []}
    amber = publish(community, community.file(body(SOFTWARE_VULN)), tlp="AMBER",
                    recipients=recipients)  # fmt: skip
    assert bundle(community, None, "csaf")["index.json"]["exported"] == []
    assert bundle(community, community.participant, "csaf")["index.json"]["exported"] == []
    assert bundle(community, community.recipient, "csaf")["index.json"]["exported"] == [amber]
    bad = community.get(None, EXPORTS, format="pdf")
    assert bad.status_code == 422 and "format" in bad.text


def test_the_cli_writes_each_file(community: Community, run: Run, tmp_path: Path) -> None:
    software, model = publish_software_and_model(community)
    public = Caller(token="", user_id="", org_id="")
    out = tmp_path / "exports"
    result = run(public, "advisories", "export", "--all", "--format", "csaf", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        f"{software}.csaf.json", f"{model}.csaf.json"]  # fmt: skip
    document = json.loads((out / f"{software}.csaf.json").read_text())
    assert document["document"]["tracking"]["id"] == software
    no_folder = run(public, "advisories", "export", "--all")
    assert no_folder.exit_code != 0 and "--out" in no_folder.output
    both = run(public, "advisories", "export", software, "--all", "--out", str(out))
    assert both.exit_code != 0 and "not both" in both.output
