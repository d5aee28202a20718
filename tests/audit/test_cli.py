"""`predeploy audit verify|checkpoint|public-key`: exit codes a cron job or CI step can rely on."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import httpx2
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from typer.testing import CliRunner

from predeploy.audit import cli as audit_cli
from predeploy.audit.chain import checkpoint_message
from predeploy.cli import app
from predeploy.client import Client
from predeploy.config import Settings
from predeploy.keys import verify_signature
from predeploy.runtime import Runtime
from tests.audit import tampering
from tests.audit.tampering import append_events, attacker
from tests.conftest import Api

runner = CliRunner()


@pytest.fixture
def server(runtime: Runtime, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    """The test database and data dir, as the CLI's environment; 12 events in the chain."""
    monkeypatch.setenv("PREDEPLOY_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("PREDEPLOY_DATABASE_URL", settings.resolved_database_url)
    append_events(runtime, 12)
    return runtime


def test_verify_intact_chain_exits_0(server: Runtime) -> None:
    result = runner.invoke(app, ["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "intact: 12 rows" in result.output
    as_json = runner.invoke(app, ["audit", "verify", "--json"])
    assert as_json.exit_code == 0
    assert json.loads(as_json.stdout) | {"head_hash": None} == {
        "ok": True,
        "rows_checked": 12,
        "head_seq": 12,
        "head_hash": None,
        "first_bad_seq": None,
        "bad_checkpoint_seq": None,
        "reason": None,
        "checkpoints_checked": 0,
        "last_checkpoint_seq": None,
    }


def test_verify_tampered_chain_exits_1_naming_the_row(server: Runtime) -> None:
    with attacker(server) as ctx:
        tampering.swap(ctx.session, 5, 8)
    result = runner.invoke(app, ["audit", "verify"])
    assert result.exit_code == 1
    assert "first bad row: 5" in result.output
    as_json = runner.invoke(app, ["audit", "verify", "--json"])
    assert as_json.exit_code == 1
    report = json.loads(as_json.stdout)
    assert (report["ok"], report["first_bad_seq"], report["rows_checked"]) == (False, 5, 4)


def test_checkpoint_then_verify_with_checkpoint(server: Runtime) -> None:
    assert runner.invoke(app, ["audit", "verify", "--checkpoint"]).exit_code == 1, (
        "no checkpoint yet"
    )
    signed = runner.invoke(app, ["audit", "checkpoint", "--json"])
    assert signed.exit_code == 0, signed.output
    assert json.loads(signed.stdout)["seq"] == 13
    result = runner.invoke(app, ["audit", "verify", "--checkpoint"])
    assert result.exit_code == 0, result.output
    assert "1 signed checkpoint(s)" in result.output


def test_verify_with_checkpoint_catches_a_truncated_tail(server: Runtime) -> None:
    assert runner.invoke(app, ["audit", "checkpoint"]).exit_code == 0
    with attacker(server) as ctx:
        tampering.truncate_from(ctx.session, 10)
    assert runner.invoke(app, ["audit", "verify"]).exit_code == 0
    result = runner.invoke(app, ["audit", "verify", "--checkpoint"])
    assert result.exit_code == 1
    assert "first bad row: 10" in result.output
    assert "removed from the tail" in result.output


def test_public_key_verifies_checkpoints_offline(server: Runtime, tmp_path: Path) -> None:
    signed = json.loads(runner.invoke(app, ["audit", "checkpoint", "--json"]).stdout)
    exported = runner.invoke(app, ["audit", "public-key"])
    assert exported.exit_code == 0
    pem = exported.stdout
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")
    key = serialization.load_pem_public_key(pem.encode())
    assert isinstance(key, Ed25519PublicKey)
    message = checkpoint_message(
        signed["seq"],
        signed["head_hash"],
        signed["row_count"],
        datetime.fromisoformat(signed["signed_at"]),
    )
    assert verify_signature(key, message, signed["signature"])

    (tmp_path / "agency.pem").write_text(pem)
    assert (
        runner.invoke(
            app, ["audit", "verify", "--checkpoint", "--public-key", str(tmp_path / "agency.pem")]
        ).exit_code
        == 0
    )
    stranger = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    (tmp_path / "stranger.pem").write_bytes(stranger)
    result = runner.invoke(
        app, ["audit", "verify", "--checkpoint", "--public-key", str(tmp_path / "stranger.pem")]
    )
    assert result.exit_code == 1
    assert "forged or altered" in result.output
    missing = runner.invoke(
        app, ["audit", "verify", "--checkpoint", "--public-key", str(tmp_path / "nope.pem")]
    )
    assert missing.exit_code == 1
    assert "public-key" in missing.output


def test_checkpoint_refuses_a_broken_chain(server: Runtime) -> None:
    with attacker(server) as ctx:
        tampering.delete_row(ctx.session, 3)
    result = runner.invoke(app, ["audit", "checkpoint"])
    assert result.exit_code == 1
    assert "row 3 is missing" in result.output


def test_unmigrated_database_exits_2(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PREDEPLOY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PREDEPLOY_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    result = runner.invoke(app, ["audit", "verify"])
    assert result.exit_code == 2
    assert "predeploy db upgrade" in result.output


def test_list_reads_the_log_through_the_api(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    def forward(request: httpx2.Request) -> httpx2.Response:
        answer = api.http.request(
            request.method, request.url.raw_path.decode(), headers=dict(request.headers)
        )
        return httpx2.Response(answer.status_code, content=answer.content)

    def client(server: str | None, token: str | None) -> Client:
        return Client(server or "", token, transport=httpx2.MockTransport(forward))

    monkeypatch.setattr(audit_cli, "remote_client", client)
    remote = ["--server", "http://predeploy.test", "--token", api.agency_admin.token]
    result = runner.invoke(app, ["audit", "list", "--action", "org.create", "--json", *remote])
    assert result.exit_code == 0, result.output
    assert [e["detail"]["name"] for e in json.loads(result.stdout)] == ["Testing Agency"]
    table = runner.invoke(app, ["audit", "list", *remote])
    assert table.exit_code == 0
    assert "token.issue" in table.output
    developer = api.user(api.org("Acme AI", "developer"), "submitter")
    refused = runner.invoke(
        app, ["audit", "list", "--server", "http://predeploy.test", "--token", developer.token]
    )
    assert refused.exit_code == 1
    assert "may read the audit log" in refused.output
