"""`predeploy report ...` through the SDK: issue, approve, show, download then verify offline,
findings, the two-person rule."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner, Result

import predeploy.cli_support
from predeploy.cli import app
from predeploy.client import Client
from predeploy.keys import SigningKey
from tests.conftest import Caller
from tests.reports.conftest import Desk

Run = Callable[..., Result]


@pytest.fixture
def run(desk: Desk, monkeypatch: pytest.MonkeyPatch) -> Run:
    transport = desk.world.api.http._transport

    def client(base_url: str, token: str | None = None) -> Client:
        return Client(base_url, token, transport=transport)

    monkeypatch.setattr(predeploy.cli_support, "Client", client)
    runner = CliRunner()

    def invoke(caller: Caller | None, *args: str) -> Result:
        env = {
            "PREDEPLOY_SERVER": "http://testserver",
            "PREDEPLOY_TOKEN": caller.token if caller else "",
            "COLUMNS": "200",
        }
        return runner.invoke(app, list(args), env=env)

    return invoke


def _json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_issue_approve_download_and_verify(desk: Desk, run: Run, tmp_path: Path) -> None:
    sub_id, campaign_id = desk.ready()
    link = f"{campaign_id}:crypto-1:1:production"
    finding = _json(run(desk.evaluator, "report", "findings", "add", sub_id, "--title", "Key",
                        "--text", "Recovered it.", "--severity", "high", "--transcript", link,
                        "--json"))  # fmt: skip
    listed = _json(run(desk.second, "report", "findings", "list", sub_id, "--json"))
    assert [f["id"] for f in listed] == [finding["id"]]

    draft = _json(run(desk.evaluator, "report", "issue", sub_id, "--limitation", "one seed",
                      "--json"))  # fmt: skip
    assert (draft["version"], draft["status"]) == (1, "draft")
    digest = draft["draft_sha256"]
    alone = run(desk.evaluator, "report", "approve", sub_id, "--sha256", digest)
    assert alone.exit_code == 1
    assert "two-person rule" in alone.output
    issued = _json(run(desk.second, "report", "approve", sub_id, "--sha256", digest, "--json"))
    assert issued["status"] == "issued"

    shown = run(desk.world.submitter, "report", "show", sub_id)
    assert shown.exit_code == 0, shown.output
    assert "issued" in shown.stdout

    out = tmp_path / "delivered"
    written = _json(run(desk.world.submitter, "report", "download", sub_id, "--out", str(out),
                        "--json"))  # fmt: skip
    assert written["sha256"] == issued["sha256"]
    names = sorted(p.name for p in out.iterdir())
    assert names == ["REPORT.html", "REPORT.json", "REPORT.json.sig", "REPORT.pdf", "agency.pem"]
    verified = _json(run(None, "report", "verify", str(out / "REPORT.json"), "--signature",
                         str(out / "REPORT.json.sig"), "--public-key", str(out / "agency.pem"),
                         "--json"))  # fmt: skip
    assert verified == {"valid": True, "sha256": issued["sha256"], "key_id": issued["key_id"]}
    document = json.loads((out / "REPORT.json").read_bytes())
    assert document["limitations"] == ["one seed"]
    assert [f["title"] for f in document["findings"]] == ["Key"]


def test_errors_name_the_problem(desk: Desk, run: Run, tmp_path: Path) -> None:
    sub_id = desk.testing_submission()
    no_results = run(desk.evaluator, "report", "issue", sub_id)
    assert no_results.exit_code == 1
    assert "no completed campaign" in no_results.output
    nothing = run(desk.world.submitter, "report", "download", sub_id, "--out", str(tmp_path))
    assert nothing.exit_code == 1
    assert "no issued report" in nothing.output
    outsider = run(desk.world.other_submitter, "report", "show", sub_id)
    assert outsider.exit_code == 1
    assert "not found" in outsider.output
    bad_link = run(desk.evaluator, "report", "findings", "add", sub_id, "--title", "t",
                   "--text", "x", "--severity", "low", "--transcript", "nope")  # fmt: skip
    assert bad_link.exit_code == 1
    assert "CAMPAIGN_ID:SAMPLE_ID:EPOCH:MODEL_LABEL" in bad_link.output


def test_the_two_person_rule_command(desk: Desk, run: Run) -> None:
    no_reason = run(desk.world.agency_admin, "report", "two-person-rule", "off")
    assert no_reason.exit_code == 1
    assert "--reason" in no_reason.output
    denied = run(desk.evaluator, "report", "two-person-rule", "off", "--reason", "pilot")
    assert denied.exit_code == 1
    assert "agency admins" in denied.output
    changed = _json(run(desk.world.agency_admin, "report", "two-person-rule", "off", "--reason",
                        "pilot", "--json"))  # fmt: skip
    assert changed["two_person_rule"] is False
    shown = run(desk.evaluator, "report", "two-person-rule")
    assert shown.exit_code == 0, shown.output
    assert "two-person rule: off" in shown.stdout


def test_show_and_issue_print_the_drafts_digest_and_approve_needs_it(desk: Desk, run: Run) -> None:
    sub_id, _ = desk.ready()
    issued = run(desk.evaluator, "report", "issue", sub_id)
    assert issued.exit_code == 0, issued.output
    digest = _json(run(desk.second, "report", "show", sub_id, "--json"))["versions"][0][
        "draft_sha256"
    ]
    assert f"report approve {sub_id} --sha256 {digest}" in issued.stdout
    shown = run(desk.second, "report", "show", sub_id)
    assert shown.exit_code == 0, shown.output
    assert digest in shown.stdout and "--sha256" in shown.stdout
    no_digest = run(desk.second, "report", "approve", sub_id)
    assert no_digest.exit_code == 2
    assert "--sha256" in no_digest.output
    stale = run(desk.second, "report", "approve", sub_id, "--sha256", "0" * 64)
    assert stale.exit_code == 1
    assert "re-drafted" in stale.output and "draft_sha256" in stale.output
    approved = _json(run(desk.second, "report", "approve", sub_id, "--sha256", digest, "--json"))
    assert approved["status"] == "issued"


def _issued(desk: Desk) -> str:
    sub_id, _ = desk.ready()
    desk.world.post(f"/submissions/{sub_id}/report", desk.evaluator, {})
    digest = desk.world.get(f"/submissions/{sub_id}/report", desk.second).json()["versions"][0][
        "draft_sha256"
    ]
    approved = desk.world.post(
        f"/submissions/{sub_id}/report/approve", desk.second, {"draft_sha256": digest}
    )
    assert approved.status_code == 200, approved.text
    return sub_id


def test_download_writes_nothing_that_does_not_verify(
    desk: Desk, run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sub_id = _issued(desk)
    real_file = Client.report_file
    real_report = Client.get_report

    def bad_signature(self: Client, submission_id: str, version: int, fmt: str) -> bytes:
        content = real_file(self, submission_id, version, fmt)
        if fmt != "sig":
            return content
        raw = bytearray(base64.b64decode(content))
        raw[0] ^= 0x01
        return base64.b64encode(bytes(raw)) + b"\n"

    def other_key(self: Client, submission_id: str) -> dict[str, Any]:
        # A server (or a man in the middle) that lists another key under the report's key id.
        other = SigningKey(Ed25519PrivateKey.generate()).public_pem()
        report = real_report(self, submission_id)
        return {**report, "public_keys": dict.fromkeys(report["public_keys"], other)}

    for name, patched in (("report_file", bad_signature), ("get_report", other_key)):
        out = tmp_path / name
        with monkeypatch.context() as patch:
            patch.setattr(Client, name, patched)
            refused = run(desk.world.submitter, "report", "download", sub_id, "--out", str(out))
        assert refused.exit_code == 1, refused.output
        assert "does not verify, nothing was written" in refused.output
        assert not out.exists()

    out = tmp_path / "good"
    written = run(desk.world.submitter, "report", "download", sub_id, "--out", str(out))
    assert written.exit_code == 0, written.output
    assert (out / "REPORT.json").exists()
