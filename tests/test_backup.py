"""Backup and restore (`predeploy backup create` / `restore`). A deployment restored into a fresh
database and data dir verifies its audit log, decrypts its secrets with the restored keys, signs
as the same agency and serves its campaigns' logs; a damaged backup, or a target that is not
empty, is refused and nothing is written. Each test runs on SQLite and, when
PREDEPLOY_TEST_POSTGRES_URL is set, on PostgreSQL too (pg_dump / pg_restore between two throwaway
databases)."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import stat
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool
from typer.testing import CliRunner

from predeploy.accounts import Actor
from predeploy.api import create_app
from predeploy.audit import service as audit
from predeploy.backup import DATABASE_FILES, create_backup, restore_backup
from predeploy.backup_cli import backup_app
from predeploy.campaigns.models import Job
from predeploy.config import Settings
from predeploy.errors import Conflict, InvalidInput
from predeploy.interop._openpgp import csaf_signing_key
from predeploy.key_rotation import rotate_signing_key
from predeploy.keys import SigningKey
from predeploy.migrate import alembic_config
from predeploy.runtime import Runtime
from predeploy.submissions.models import AccessKey
from tests.campaigns.conftest import Lab
from tests.campaigns.conftest import lab as lab
from tests.conftest import Api, Caller, _PostgresTemplates
from tests.submissions.conftest import world as world

API_KEY = "sk-backup-test-7Hq2WnPc"
LOG_NAME = "2026-11-30T12-00-00+00-00_cyber-suite_abc123.eval"
LOG = b"PK\x03\x04 an Inspect eval log of the campaign's first job"

# The group, as the lead registers it: `predeploy backup ...`.
cli = typer.Typer()
cli.add_typer(backup_app, name="backup")
runner = CliRunner()


@pytest.fixture
def databases(
    db_url: str,
    tmp_path: Path,
    _sqlite_template: Path,
    _postgres_templates: _PostgresTemplates | None,
) -> Iterator[Callable[[bool], str]]:
    """Makes more databases on the test's backend, empty or migrated (dropped afterwards)."""
    made: list[str] = []

    def make(migrated: bool) -> str:
        name = f"predeploy_r_{uuid.uuid4().hex[:12]}"
        if db_url.startswith("sqlite"):
            path = tmp_path / f"{name}.db"
            if migrated:
                shutil.copyfile(_sqlite_template, path)
            return f"sqlite:///{path}"
        assert _postgres_templates is not None
        if migrated:
            name = _postgres_templates.fresh()
        else:
            with _postgres_templates.admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
        made.append(name)
        return _postgres_templates.url_for(name)

    yield make
    for name in made:
        assert _postgres_templates is not None
        _postgres_templates.drop(name)


def _tables(url: str) -> list[str]:
    if url.startswith("sqlite") and not Path(str(make_url(url).database)).exists():
        return []
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return inspect(connection).get_table_names()
    finally:
        engine.dispose()


def _assert_untouched(target: Settings) -> None:
    assert not target.data_dir.exists()
    assert _tables(target.resolved_database_url) == []


@dataclass
class Deployment:
    """A deployment with data of every kind a backup must carry, and what to check it by."""

    api: Api
    evaluator: Caller
    campaign_id: str
    key_ids: tuple[str, str]
    openpgp_fingerprint: str


def _deployment(lab: Lab) -> Deployment:
    """An access variant's API key (encrypted), a campaign with an eval log in the artifact
    store, two audit checkpoints signed by a retired and the current signing key, and the CSAF
    OpenPGP key (its passphrase sealed with the secret key)."""
    variant = {"label": "production", "model": "openai-api/acme/m1", "api_key": API_KEY}
    campaign = lab.start(lab.submission(variant)["id"], lab.plan()["name"])
    runtime = lab.world.api.runtime
    with runtime.transaction(read_only=True) as session:
        log_dir = session.scalars(select(Job.log_dir).where(Job.campaign_id == campaign["id"]))
        job_dir = Path(next(iter(log_dir)))
    job_dir.mkdir(parents=True)
    (job_dir / LOG_NAME).write_bytes(LOG)
    with runtime.unit(Actor.system("test")) as ctx:
        audit.checkpoint(ctx)
    rotation = rotate_signing_key(runtime)
    with runtime.unit(Actor.system("test")) as ctx:
        audit.checkpoint(ctx)
    fingerprint = csaf_signing_key(runtime.settings, runtime.secrets).fingerprint
    return Deployment(
        api=lab.world.api,
        evaluator=lab.evaluator,
        campaign_id=campaign["id"],
        key_ids=(rotation.retired_key_id, rotation.key_id),
        openpgp_fingerprint=fingerprint,
    )


def test_a_restored_deployment_verifies_decrypts_signs_and_serves_as_the_original(
    lab: Lab, databases: Callable[[bool], str], tmp_path: Path
) -> None:
    source = _deployment(lab)
    backup = tmp_path / "backup"

    manifest = create_backup(source.api.runtime.settings, backup)

    assert stat.S_IMODE(backup.stat().st_mode) == 0o700
    written = [p for p in backup.rglob("*") if p.is_file()]
    assert {stat.S_IMODE(p.stat().st_mode) for p in written} == {0o600}
    assert {stat.S_IMODE(p.stat().st_mode) for p in backup.rglob("*") if p.is_dir()} == {0o700}
    on_disk = json.loads((backup / "manifest.json").read_text())
    assert on_disk["alembic_revision"] == manifest.alembic_revision
    assert manifest.alembic_revision == _head_revision()
    paths = {f.path for f in manifest.files}
    assert paths == {p.relative_to(backup).as_posix() for p in written} - {"manifest.json"}
    retired_id, current_id = source.key_ids
    assert {
        "keys/secret.key",
        "keys/signing.key",
        f"keys/retired-signing-keys/{retired_id}.pem",
    } < paths
    assert any(p.startswith("keys/openpgp/private-keys-v1.d/") for p in paths)
    (log,) = [f for f in manifest.files if f.path.endswith(LOG_NAME)]
    assert (log.size, log.sha256) == (len(LOG), hashlib.sha256(LOG).hexdigest())

    target = Settings(data_dir=tmp_path / "restored", database_url=databases(False))
    result = restore_backup(target, backup)

    assert result.alembic_revision == manifest.alembic_revision
    assert result.key_files == sum(p.startswith("keys/") for p in paths)
    assert result.artifact_files == 1
    restored = Runtime(settings=target, clock=source.api.runtime.clock)
    try:
        with restored.unit(Actor.system("test")) as ctx:
            verified = audit.verify(ctx, with_checkpoints=True)
        assert verified.ok and verified.checkpoints_checked == 2, verified.reason
        with restored.transaction(read_only=True) as session:
            (ciphertext,) = session.scalars(select(AccessKey.ciphertext)).all()
        assert ciphertext is not None and restored.secrets.decrypt(ciphertext) == API_KEY
        assert restored.signing_key.key_id == current_id
        assert set(restored.public_keys) == {retired_id, current_id}
        openpgp = csaf_signing_key(target, restored.secrets)
        assert openpgp.fingerprint == source.openpgp_fingerprint
        # The restored server knows the evaluator's token, and finds the campaign's log in the
        # restored artifact store (not in the original's).
        shutil.rmtree(source.api.runtime.settings.resolved_artifact_store)
        with TestClient(create_app(restored)) as http:
            logs = http.get(
                f"/api/v1/campaigns/{source.campaign_id}/logs", headers=source.evaluator.headers
            )
        assert logs.status_code == 200, logs.text
        assert [(f["name"], f["sha256"]) for f in logs.json()] == [(LOG_NAME, log.sha256)]
    finally:
        assert restored.engine is not None
        restored.engine.dispose()


def _head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


@pytest.mark.parametrize(
    ("damage", "victim"),
    [("altered", "keys/signing.key"), ("truncated", "database"), ("missing", "keys/secret.key")],
)
def test_a_damaged_backup_is_refused_naming_the_file_and_nothing_is_written(
    api: Api, databases: Callable[[bool], str], tmp_path: Path, damage: str, victim: str
) -> None:
    assert api.runtime.signing_key.key_id and api.runtime.secrets  # the keys exist
    backup = tmp_path / "backup"
    manifest = create_backup(api.runtime.settings, backup)
    victim = DATABASE_FILES[manifest.database] if victim == "database" else victim
    path = backup / victim
    content = path.read_bytes()
    if damage == "altered":
        path.write_bytes(content[:-2] + bytes([content[-2] ^ 1]) + content[-1:])
    elif damage == "truncated":
        path.write_bytes(content[: len(content) // 2])
    else:
        path.unlink()
    target = Settings(data_dir=tmp_path / "restored", database_url=databases(False))

    with pytest.raises(
        InvalidInput, match=f"backup file {re.escape(victim)} (is missing|does not match)"
    ):
        restore_backup(target, backup)

    _assert_untouched(target)


def test_restore_refuses_a_database_that_holds_predeploy_tables(
    api: Api, databases: Callable[[bool], str], tmp_path: Path
) -> None:
    backup = tmp_path / "backup"
    create_backup(api.runtime.settings, backup)
    target = Settings(data_dir=tmp_path / "restored", database_url=databases(True))
    tables = _tables(target.resolved_database_url)

    with pytest.raises(Conflict, match="already holds predeploy tables") as refused:
        restore_backup(target, backup)

    assert refused.value.field == "database_url"
    assert not target.data_dir.exists()
    assert _tables(target.resolved_database_url) == tables


def test_restore_refuses_a_data_dir_that_holds_keys(
    api: Api, databases: Callable[[bool], str], tmp_path: Path
) -> None:
    assert api.runtime.secrets
    backup = tmp_path / "backup"
    create_backup(api.runtime.settings, backup)
    target = Settings(data_dir=tmp_path / "restored", database_url=databases(False))
    target.data_dir.mkdir()
    target.secret_key_path.write_bytes(b"another deployment's key\n")

    with pytest.raises(Conflict, match=r"already holds keys \(.*/secret\.key\)") as refused:
        restore_backup(target, backup)

    assert refused.value.field == "data_dir"
    assert target.secret_key_path.read_bytes() == b"another deployment's key\n"
    assert [p.name for p in target.data_dir.iterdir()] == ["secret.key"]
    assert _tables(target.resolved_database_url) == []


def _use(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    monkeypatch.setenv("PREDEPLOY_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("PREDEPLOY_DATABASE_URL", settings.resolved_database_url)


def test_the_cli_backs_up_and_restores(
    api: Api,
    databases: Callable[[bool], str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    key_id = api.runtime.signing_key.key_id
    _use(monkeypatch, api.runtime.settings)

    created = runner.invoke(cli, ["backup", "create", "--out", "backup", "--json"])

    assert created.exit_code == 0, created.output
    manifest = json.loads(created.stdout)
    assert manifest["format_version"] == 1
    assert manifest["alembic_revision"] == _head_revision()
    assert "keys/signing.key" in {f["path"] for f in manifest["files"]}
    again = runner.invoke(cli, ["backup", "create", "--out", "backup"])
    assert again.exit_code == 1
    assert "not an empty directory (field: out)" in again.stderr

    target = Settings(data_dir=tmp_path / "restored", database_url=databases(False))
    _use(monkeypatch, target)
    restored = runner.invoke(cli, ["backup", "restore", "--from", "backup", "--json"])

    assert restored.exit_code == 0, restored.output
    result = json.loads(restored.stdout)
    assert result["alembic_revision"] == manifest["alembic_revision"]
    assert result["key_files"] == sum(f["path"].startswith("keys/") for f in manifest["files"])
    assert SigningKey.from_settings(target).key_id == key_id
    twice = runner.invoke(cli, ["backup", "restore", "--from", "backup"])
    assert twice.exit_code == 1
    assert "already holds predeploy tables" in twice.stderr
    assert "(field: database_url)" in twice.stderr


def test_the_cli_says_what_a_backup_holds_and_leaves_out_a_remote_artifact_store(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _use(monkeypatch, api.runtime.settings)
    monkeypatch.setenv("PREDEPLOY_ARTIFACT_STORE", "s3://bucket/predeploy")

    created = runner.invoke(cli, ["backup", "create", "--out", "backup"])

    assert created.exit_code == 0, created.output
    assert "It holds the server's private keys: store it encrypted" in created.stdout
    note = "note: the artifact store s3://bucket/predeploy is not local: back it up on its own"
    assert note in created.stderr
    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    assert manifest["artifact_store"] is None
    assert not any(f["path"].startswith("artifacts/") for f in manifest["files"])
