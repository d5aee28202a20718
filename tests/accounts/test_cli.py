from __future__ import annotations

import json
import stat
from typing import Any

import pytest
from typer.testing import CliRunner

import predeploy.cli_support
from predeploy.accounts import Actor
from predeploy.accounts.sessions import sign_in
from predeploy.cli import app
from predeploy.client import Client
from predeploy.config import Settings
from predeploy.errors import NotAuthenticated
from predeploy.keys import SigningKey
from predeploy.runtime import Runtime
from tests.conftest import Api

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


def test_bootstrap_makes_the_agency_signing_key(server_env: Settings) -> None:
    assert not server_env.signing_key_path.exists()
    args = ["admin", "bootstrap", "--org", "Agency", "--email", "k@agency.example"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(server_env.signing_key_path.stat().st_mode) == 0o600
    key_id = SigningKey.from_settings(server_env).key_id
    assert f"agency signing key {key_id}" in result.stdout


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
    runtime = Runtime(settings=server_env)
    with runtime.unit(Actor.system("test")) as ctx:
        assert sign_in(ctx, "a@agency.example", "another long passphrase").cookie
    with runtime.unit(Actor.system("test")) as ctx, pytest.raises(NotAuthenticated):
        sign_in(ctx, "a@agency.example", "correct horse battery staple")
    assert runtime.engine is not None
    runtime.engine.dispose()


def test_a_short_bootstrap_password_is_refused_naming_the_field(
    server_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ADMIN_PW", "short")
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
    assert result.exit_code == 1
    assert "password" in result.output and "12 characters" in result.output


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


def test_remote_org_user_and_token_commands(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    transport = api.http._transport
    monkeypatch.setattr(
        predeploy.cli_support,
        "Client",
        lambda url, token=None: Client(url, token, transport=transport),
    )
    env = {"PREDEPLOY_SERVER": "http://testserver", "PREDEPLOY_TOKEN": api.agency_admin.token}

    def run(*args: str) -> Any:
        result = runner.invoke(app, [*args, "--json"], env=env)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    org = run("orgs", "create", "Acme AI", "--capacity", "developer", "--capacity", "vendor")
    assert org["capacities"] == ["developer", "vendor"]
    assert {o["name"] for o in run("orgs", "list")} == {"Acme AI", "Testing Agency"}
    user = run("users", "create", "dev@acme.example", "--org-id", org["id"], "--role", "submitter")
    assert user["roles"] == ["submitter"]
    issued = run("tokens", "create", "--name", "ci", "--scope", "read", "--scope", "write")
    assert issued["token"].startswith("pdp_")
    listed = run("tokens", "list")
    assert issued["id"] in {t["id"] for t in listed}
    assert all("token" not in t for t in listed)
    bad = runner.invoke(app, ["orgs", "create", "X", "--capacity", "wizard"], env=env)
    assert bad.exit_code == 1
    assert "capacities" in bad.output
    revoked = runner.invoke(app, ["tokens", "revoke", issued["id"]], env=env)
    assert revoked.exit_code == 0, revoked.output
