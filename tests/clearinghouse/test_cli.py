"""`predeploy vulns ...` through the SDK: file from a YAML file, list, search, show, triage."""

from __future__ import annotations

from pathlib import Path

import yaml  # type: ignore[import-untyped]

from tests.clearinghouse.conftest import SOFTWARE_VULN, Community, Run, body, cli_json


def test_file_list_show_and_triage(community: Community, run: Run, tmp_path: Path) -> None:
    report = tmp_path / "heap.yaml"
    report.write_text(yaml.safe_dump(SOFTWARE_VULN))
    filed = cli_json(run(community.reporter, "vulns", "file", str(report), "--json"))
    assert filed["status"] == "new" and filed["cvss"]["base_score"] == 9.8

    listed = run(community.analyst, "vulns", "list", "-q", "heap overflow")
    assert listed.exit_code == 0, listed.output
    assert filed["id"] in listed.stdout and "AMBER" in listed.stdout
    assert cli_json(run(community.participant, "vulns", "list", "--json")) == []

    triaged = cli_json(run(community.analyst, "vulns", "triage", filed["id"], "--priority", "1",
                        "--status", "triaged", "--ssvc", "RP=N", "--ssvc", "SCON=N",
                        "--ssvc", "RC=C", "--ssvc", "SC=M", "--ssvc", "SE=A", "--ssvc", "U=S",
                        "--ssvc", "PSI=S", "--json"))  # fmt: skip
    assert (triaged["status"], triaged["priority"]) == ("triaged", 1)
    assert triaged["ssvc"]["inputs"]["RP"] == "N"

    shown = run(community.analyst, "vulns", "show", filed["id"])
    assert shown.exit_code == 0, shown.output
    assert "triaged" in shown.stdout and "CVSS 3.1 9.8 Critical" in shown.stdout
    assert "SSVC coordinator triage" in shown.stdout


def test_errors_name_the_field_and_exit_non_zero(
    community: Community, run: Run, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(body(SOFTWARE_VULN, cvss="CVSS:3.1/AV:Q")))
    refused = run(community.reporter, "vulns", "file", str(bad))
    assert refused.exit_code != 0
    assert "cvss" in refused.output
    not_a_mapping = tmp_path / "list.yaml"
    not_a_mapping.write_text("- one\n- two\n")
    refused = run(community.reporter, "vulns", "file", str(not_a_mapping))
    assert refused.exit_code != 0 and "one mapping" in refused.output
    missing = run(community.reporter, "vulns", "show", "no-such-id")
    assert missing.exit_code != 0 and "not found" in missing.output
    wrong = run(community.analyst, "vulns", "triage", "x", "--ssvc", "RP")
    assert wrong.exit_code != 0 and "KEY=VALUE" in wrong.output
