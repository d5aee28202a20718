from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from predeploy.cli import app
from predeploy.config import Settings

runner = CliRunner()


@pytest.fixture
def server_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("PREDEPLOY_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("PREDEPLOY_DATABASE_URL", settings.resolved_database_url)
    return settings


def test_bootstrap_prints_json_with_token(server_env: Settings) -> None:
    result = runner.invoke(
        app,
        ["admin", "bootstrap", "--org", "Agency", "--email", "Root@Agency.example", "--json"],
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["token"].startswith("pdp_")
    assert set(out) == {"token", "org_id", "user_id"}


def test_bootstrap_twice_is_refused(server_env: Settings) -> None:
    args = ["admin", "bootstrap", "--org", "Agency", "--email", "a@agency.example"]
    assert runner.invoke(app, args).exit_code == 0
    again = runner.invoke(app, args)
    assert again.exit_code == 1
    assert "already bootstrapped" in again.output


def test_bootstrap_reads_password_from_env_and_stdin(
    server_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ADMIN_PW", "correct horse battery staple")
    result = runner.invoke(
        app,
        [
            "admin",
            "bootstrap",
            "--org",
            "Agency",
            "--email",
            "a@agency.example",
            "--password-env",
            "ADMIN_PW",
        ],
    )
    assert result.exit_code == 0, result.output
    stdin = runner.invoke(
        app,
        ["users", "set-password", "a@agency.example", "--password-stdin"],
        input="another long passphrase\n",
    )
    assert stdin.exit_code == 0, stdin.output


def test_missing_password_env_names_the_option(server_env: Settings) -> None:
    result = runner.invoke(
        app,
        [
            "admin",
            "bootstrap",
            "--org",
            "Agency",
            "--email",
            "a@agency.example",
            "--password-env",
            "NOPE_UNSET",
        ],
    )
    assert result.exit_code == 1
    assert "NOPE_UNSET" in result.output
    assert "password-env" in result.output


def test_remote_command_without_server_names_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PREDEPLOY_SERVER", raising=False)
    result = runner.invoke(app, ["orgs", "list", "--token", "pdp_x_y"])
    assert result.exit_code == 1
    assert "field: server" in result.output
