"""`predeploy keys export-public`: the agency's public key, ready for offline report checks."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
import typer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from typer.testing import CliRunner

from predeploy.config import Settings
from predeploy.keys import SigningKey, public_key_id
from predeploy.keys_cli import keys_app
from predeploy.reports._signing import sign_report, verify_report
from tests.reports.factories import small_report

runner = CliRunner()

# The group, as the lead registers it: `predeploy keys ...`.
cli = typer.Typer()
cli.add_typer(keys_app, name="keys")


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "data"
    monkeypatch.setenv("PREDEPLOY_DATA_DIR", str(path))
    return path


def _key_id_of(pem: bytes) -> str:
    key = serialization.load_pem_public_key(pem)
    assert isinstance(key, Ed25519PublicKey)
    return public_key_id(key)


def test_export_public_creates_the_key_pair_and_writes_a_matching_pem(
    data_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "agency.pem"
    result = runner.invoke(cli, ["keys", "export-public", "--out", str(out)])
    assert result.exit_code == 0, result.output
    private = data_dir / "signing.key"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    key = SigningKey.from_settings(Settings(data_dir=data_dir))
    assert _key_id_of(out.read_bytes()) == key.key_id
    assert f"wrote public key {key.key_id} to {out}" in result.stdout
    assert b"PRIVATE" not in out.read_bytes()

    again = runner.invoke(cli, ["keys", "export-public", "--json"])
    assert again.exit_code == 0, again.output
    exported = json.loads(again.stdout)
    assert exported == {"key_id": key.key_id, "public_key_pem": out.read_text(), "path": None}
    assert stat.S_IMODE(private.stat().st_mode) == 0o600


def test_export_public_prints_only_the_pem_on_stdout(data_dir: Path) -> None:
    result = runner.invoke(cli, ["keys", "export-public"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("-----BEGIN PUBLIC KEY-----")
    key_id = _key_id_of(result.stdout.encode())
    assert f"key id {key_id}" in result.stderr


def test_the_exported_key_verifies_a_report_signed_by_the_agency(
    data_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "agency.pem"
    assert runner.invoke(cli, ["keys", "export-public", "--out", str(out)]).exit_code == 0
    key = SigningKey.from_settings(Settings(data_dir=data_dir))
    signed = sign_report(small_report(key.key_id), key)
    assert verify_report(signed.data, signed.signature, out.read_bytes()).key_id == key.key_id


def test_export_public_refuses_to_overwrite_the_private_key(data_dir: Path) -> None:
    assert runner.invoke(cli, ["keys", "export-public"]).exit_code == 0
    private = data_dir / "signing.key"
    before = private.read_bytes()
    result = runner.invoke(cli, ["keys", "export-public", "--out", str(private)])
    assert result.exit_code == 1
    assert "private key itself" in result.output
    assert private.read_bytes() == before
