"""`predeploy demo` runs the main job end to end over real HTTP on loopback, twice on one data dir:
submission, a campaign in the bubblewrap sandbox, a signed report verified offline."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from rich.console import Console
from typer.testing import CliRunner

from predeploy.accounts import Actor
from predeploy.accounts.sessions import sign_in
from predeploy.cli import app
from predeploy.config import Settings
from predeploy.demo import DemoOptions, run_demo, set_demo_passwords
from predeploy.errors import NotAuthenticated
from predeploy.reports._signing import verify_report
from predeploy.runtime import Runtime
from tests.shared_data import shared_data


@pytest.mark.slow
def test_demo_runs_end_to_end_and_again_on_the_same_data_dir(settings: Settings) -> None:
    console = Console(record=True, width=120)
    options = DemoOptions(quick=True, osv=shared_data("osv-pypa"))
    first = run_demo(Runtime(settings=settings), console, options)
    assert first.chain_ok and first.leaks == []
    assert first.submission["state"] == "report_issued"
    assert all(v["has_api_key"] for v in first.submission["access_variants"])
    assert [s["to_state"] for s in first.submission["history"]][-3:] == [
        "accepted",
        "testing",
        "report_issued",
    ]
    assert first.server_url.startswith("http://127.0.0.1:")

    testing = first.testing
    assert testing is not None and testing.campaign["state"] == "completed"
    files = testing.files
    assert all(path.is_relative_to(settings.data_dir) for path in files.values())
    # The files on disk verify offline exactly as a recipient checks them.
    verified = verify_report(
        files["json"].read_bytes(),
        files["sig"].read_text(),
        files["public_key"].read_text(),
    )
    assert verified.sha256 == testing.sha256
    assert files["pdf"].read_bytes().startswith(b"%PDF")
    assert "<h2>Safeguards</h2>" in files["html"].read_text()
    report = json.loads(files["json"].read_bytes())
    assert {v["label"] for v in report["model"]["access_variants"]} == {
        "production",
        "reduced-safeguards",
    }
    safeguards = {entry["variant"]: entry["rates"] for entry in report["safeguards"]["variants"]}
    # The guarded baseline refuses every misuse framing; the unguarded one complies, by outcome.
    assert safeguards["production"]["misuse_compliance"]["overall"]["count"] == 0
    reduced = safeguards["reduced-safeguards"]["misuse_compliance"]["overall"]
    assert reduced["count"] == reduced["total"] == reduced["by_outcome"] > 0
    assert [r["drift"]["verdict"] for r in report["identity"]] == ["match", "match"]
    (finding,) = report["findings"]
    assert finding["transcripts"][0]["model_label"] == "reduced-safeguards"
    defense = first.defense
    assert defense is not None and defense.sbom.is_relative_to(settings.data_dir)
    assert json.loads(defense.check_result.read_text())
    assert defense.imported > 2000  # the real PyPA records
    # The flaw the model found in the developer's library is ours to publish, OSV and CVE 5 too;
    # the defenders' check finds the library in the developer's own SBOM.
    flaw = first.software_flaw
    assert flaw is not None and {"osv", "cve5"} <= set(flaw.files)
    affected = {c.name: c.advisories for c in defense.affected}
    assert set(affected) == {"certifi", "flask", "werkzeug", "frontier-tokenizer"}
    assert affected["frontier-tokenizer"] == (flaw.advisory_number,)

    # --serve's logins: a fresh password per demo user, which signs in to the web pages.
    runtime = Runtime(settings=settings)
    logins = set_demo_passwords(runtime)
    assert len({password for _, _, password in logins}) == len(logins) == 4
    for email, _, password in logins:
        with runtime.unit(Actor.public()) as ctx:
            assert sign_in(ctx, email, password).actor.user_id
    with runtime.unit(Actor.public()) as ctx, pytest.raises(NotAuthenticated):
        sign_in(ctx, logins[0][0], logins[1][2])

    second = run_demo(Runtime(settings=settings), console, options)
    assert second.chain_ok
    assert second.submission["id"] != first.submission["id"]
    assert second.submission["model_version"] == "demo-2"
    assert second.audit_rows > first.audit_rows
    assert second.testing is not None and second.testing.files["json"] != files["json"]
    # The second run's report of the same flaw is closed as a duplicate of the first's.
    assert second.software_flaw is not None and second.software_flaw.duplicate_id is not None
    assert second.software_flaw.advisory_number == flaw.advisory_number
    assert second.defense is not None  # the import is idempotent
    assert (second.defense.imported, second.defense.unchanged) == (
        0,
        defense.imported + defense.updated,
    )
    text = console.export_text()
    assert "What the demo produced" in text and str(files["pdf"].name) in text


def test_the_demo_cli_refuses_endpoint_options_without_a_model(settings: Settings) -> None:
    result = CliRunner().invoke(
        app, ["demo", "--data-dir", str(settings.data_dir), "--base-url", "http://127.0.0.1:9"]
    )
    assert result.exit_code == 1
    assert "--base-url and --api-key-env go with --access-model" in result.output


def test_the_demo_refuses_a_key_variable_that_is_not_set(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DEMO_MISSING_KEY", raising=False)
    result = CliRunner().invoke(
        app,
        [
            "demo", "--data-dir", str(settings.data_dir), "--access-model", "openai-api/lab/m",
            "--base-url", "http://127.0.0.1:9/v1", "--api-key-env", "DEMO_MISSING_KEY",
        ],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "DEMO_MISSING_KEY is not set or empty" in result.output


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
def test_demo_serve_keeps_the_pages_up_and_its_printed_logins_sign_in(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "COLUMNS": "200", "PREDEPLOY_DATA_DIR": str(tmp_path / "data")}
    command = [sys.executable, "-m", "predeploy", "demo", "--quick", "--serve", "--port", str(port)]
    # Run from a directory without ../shared/data/osv-pypa: the OSV import is skipped (quicker).
    demo = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        assert demo.stdout is not None
        printed = []
        for raw in demo.stdout:
            printed.append(raw.decode(errors="replace"))
            if "predeploy demo serving on" in printed[-1]:
                break
        else:
            pytest.fail("the demo ended without serving:\n" + "".join(printed[-40:]))
        logins = {
            cells[0]: cells[2]
            for line in printed
            if (cells := [c.strip() for c in line.strip().strip("│").split("│")])
            and len(cells) == 3
            and cells[0].endswith(".demo")
        }
        assert set(logins) >= {"admin@agency.demo", "submitter@frontier-labs.demo"}
        assert f"http://127.0.0.1:{port}/login" in printed[-1]

        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as browser:
            browser.get("/login")
            token = browser.cookies["predeploy_login_csrf"]
            email = "submitter@frontier-labs.demo"
            form = {"email": email, "password": logins[email], "csrf_token": token}
            assert browser.post("/login", data=form).status_code == 303
            page = browser.get("/submissions")
            assert page.status_code == 200 and "frontier-demo" in page.text
    finally:
        demo.send_signal(signal.SIGINT)
        demo.wait(timeout=60)
