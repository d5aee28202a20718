"""Key rotation. The secret key: every stored secret re-encrypted, nothing lost (even after a
crash midway), nothing left readable with the old key. The signing key: a new key id, and every
report and audit checkpoint the old key signed still verifies. Both through the real CLI too."""

from __future__ import annotations

import json
import stat
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select
from typer.testing import CliRunner

from predeploy.accounts import Actor
from predeploy.audit import service as audit
from predeploy.clearinghouse.models import VulnAttachment
from predeploy.cli import app
from predeploy.config import Settings
from predeploy.errors import Conflict
from predeploy.interop._openpgp import PASSPHRASE_FILE, csaf_signing_key
from predeploy.key_rotation import rotate_secret_key, rotate_signing_key
from predeploy.keys import (
    SecretBox,
    SigningKey,
    load_public_keys,
    read_key_ring,
    write_key_ring,
)
from predeploy.notifications.models import WebhookSubscription
from predeploy.reports._signing import ReportVerificationError, verify_report
from predeploy.runtime import Runtime
from predeploy.submissions.models import AccessKey
from tests.clearinghouse.conftest import SOFTWARE_VULN, VULNS, Community, body
from tests.clearinghouse.conftest import community as community
from tests.reports.conftest import Desk
from tests.reports.conftest import desk as desk
from tests.submissions.conftest import world as world

PAYLOAD = b"import socket\n# overflows parse_header on port 8080\n"
HOOK_HOST = "hooks.acme.example"
API_KEY = "sk-rotation-test-Qm4Lz8Vt"


def _stored(runtime: Runtime) -> dict[str, bytes]:
    """Every stored ciphertext, by what it is."""
    with runtime.transaction(read_only=True) as session:
        keys = session.scalars(select(AccessKey.ciphertext)).all()
        hooks = session.scalars(select(WebhookSubscription.secret_encrypted)).all()
        pocs = session.scalars(
            select(VulnAttachment.content).where(VulnAttachment.proof_of_concept.is_(True))
        ).all()
    (key,), (hook,), (poc,) = keys, hooks, pocs
    assert key is not None
    passphrase = (runtime.settings.openpgp_home / PASSPHRASE_FILE).read_bytes()
    return {"api_key": key, "webhook": hook, "poc": bytes(poc), "passphrase": passphrase}


def _secrets_of_every_kind(community: Community) -> dict[str, str]:
    """An access variant's API key, a webhook secret, a proof of concept and the OpenPGP key's
    passphrase, all stored encrypted: the plaintexts to check, and the payload's URL."""
    api, developer = community.api, community.developer
    model = community.post(developer, "/api/v1/models", {"name": "acme-m1", "version": "1"})
    assert model.status_code == 201, model.text
    submission = community.post(
        developer,
        "/api/v1/submissions",
        {
            "model_id": model.json()["id"],
            "planned_release_at": (api.runtime.clock.now() + timedelta(days=20)).isoformat(),
            "access_variants": [
                {"label": "production", "model": "openai-api/acme/m1", "api_key": API_KEY}
            ],
        },
    )
    assert submission.status_code == 201, submission.text
    allowed = community.post(api.agency_admin, "/api/v1/webhooks/allowlist", {"host": HOOK_HOST})
    assert allowed.status_code == 201, allowed.text
    admin = api.user(developer.org_id, "admin")
    hook = community.post(
        admin, "/api/v1/webhooks", {"url": f"https://{HOOK_HOST}/in", "events": ["*"]}
    )
    assert hook.status_code == 201, hook.text
    vuln = community.file(body(SOFTWARE_VULN))
    uploaded = api.http.post(
        f"{VULNS}/{vuln['id']}/attachments",
        params={"filename": "poc.py", "proof_of_concept": True},
        content=PAYLOAD,
        headers={**community.reporter.headers, "Content-Type": "text/x-python"},
    )
    assert uploaded.status_code == 201, uploaded.text
    csaf_signing_key(api.runtime.settings, api.runtime.secrets)
    return {
        "api_key": API_KEY,
        "webhook": hook.json()["secret"],
        "poc_url": f"{VULNS}/{vuln['id']}/attachments/{uploaded.json()['id']}/content",
    }


def test_rotation_reencrypts_every_secret_and_retires_the_old_key(
    community: Community,
) -> None:
    plain = _secrets_of_every_kind(community)
    runtime = community.api.runtime
    old_ring = read_key_ring(runtime.settings.secret_key_path)
    old_box = SecretBox(old_ring)
    before = _stored(runtime)
    passphrase = old_box.decrypt(before["passphrase"])

    rotation = rotate_secret_key(runtime)

    assert (rotation.access_keys, rotation.webhook_secrets, rotation.attachments) == (1, 1, 1)
    assert rotation.openpgp_passphrase and rotation.retired_keys == 1
    ring = read_key_ring(runtime.settings.secret_key_path)
    assert len(ring) == 1 and ring[0] not in old_ring
    assert stat.S_IMODE(runtime.settings.secret_key_path.stat().st_mode) == 0o600
    new_box = SecretBox(ring)
    after = _stored(runtime)
    for name, token in after.items():
        assert token != before[name], name
        with pytest.raises(ValueError, match="cannot be decrypted"):
            old_box.decrypt_bytes(token)
    assert new_box.decrypt(after["api_key"]) == plain["api_key"]
    assert new_box.decrypt(after["webhook"]) == plain["webhook"]
    assert new_box.decrypt_bytes(after["poc"]) == PAYLOAD
    assert new_box.decrypt(after["passphrase"]) == passphrase
    # The running server reads them with the new key: the reporter downloads the payload.
    got = community.get(community.reporter, str(plain["poc_url"]))
    assert got.status_code == 200 and got.content == PAYLOAD
    # And so does a process started afresh on the same data dir (the CSAF key unlocks).
    fresh = Runtime(settings=runtime.settings, engine=runtime.engine)
    assert csaf_signing_key(fresh.settings, fresh.secrets).fingerprint
    audit = community.get(community.api.agency_admin, "/api/v1/audit").json()["items"]
    (event,) = [e for e in audit if e["action"] == "keys.secret_rotated"]
    assert event["detail"] == {"access_keys": 1, "webhook_secrets": 1, "attachments": 1}


def test_a_rotation_interrupted_after_the_new_key_was_added_loses_nothing(
    community: Community,
) -> None:
    plain = _secrets_of_every_kind(community)
    runtime = community.api.runtime
    path = runtime.settings.secret_key_path
    # A crash after step 1: a new key first in the ring, nothing re-encrypted yet.
    write_key_ring(path, [Fernet.generate_key(), *read_key_ring(path)])
    runtime.forget_keys()
    assert runtime.secrets.decrypt(_stored(runtime)["api_key"]) == plain["api_key"]

    rotation = rotate_secret_key(runtime)

    assert rotation.retired_keys == 2
    assert len(read_key_ring(path)) == 1
    assert runtime.secrets.decrypt(_stored(runtime)["api_key"]) == plain["api_key"]


def test_a_secret_no_key_decrypts_stops_the_rotation_and_changes_nothing(
    community: Community,
) -> None:
    _secrets_of_every_kind(community)
    runtime = community.api.runtime
    foreign = SecretBox(Fernet.generate_key()).encrypt("from another server")
    with runtime.transaction() as session:
        session.execute(WebhookSubscription.__table__.update().values(secret_encrypted=foreign))
    before = _stored(runtime)

    with pytest.raises(Conflict, match="cannot be decrypted with any key of the ring"):
        rotate_secret_key(runtime)

    assert _stored(runtime) == before
    # The ring still holds the key that reads everything that was readable.
    runtime.forget_keys()
    assert runtime.secrets.decrypt(before["api_key"]) == API_KEY


def test_the_cli_rotates_and_says_what_to_do_next(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREDEPLOY_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("PREDEPLOY_DATABASE_URL", settings.resolved_database_url)
    runner = CliRunner()
    SecretBox.from_settings(settings)
    old = read_key_ring(settings.secret_key_path)

    shown = runner.invoke(app, ["keys", "rotate-secret"])
    assert shown.exit_code == 0, shown.output
    assert "Restart every API process and worker" in shown.output
    as_json = runner.invoke(app, ["keys", "rotate-secret", "--json"])
    assert as_json.exit_code == 0, as_json.output

    assert json.loads(as_json.stdout)["retired_keys"] == 1
    assert read_key_ring(settings.secret_key_path) != old


def _issue(desk: Desk, sub_id: str, **draft: str) -> None:
    world = desk.world
    drafted = world.post(f"/submissions/{sub_id}/report", desk.evaluator, draft)
    assert drafted.status_code == 201, drafted.text
    approved = world.post(
        f"/submissions/{sub_id}/report/approve",
        desk.second,
        {"draft_sha256": drafted.json()["draft_sha256"]},
    )
    assert approved.status_code == 200, approved.text


def _signed(desk: Desk, sub_id: str, version: int) -> tuple[bytes, str]:
    base = f"/api/v1/submissions/{sub_id}/report/{version}"
    http, headers = desk.world.api.http, desk.evaluator.headers
    data = http.get(f"{base}.json", headers=headers).content
    signature = http.get(f"{base}.sig", headers=headers).text.strip()
    return data, signature


def test_after_a_signing_key_rotation_everything_the_old_key_signed_still_verifies(
    desk: Desk,
) -> None:
    runtime = desk.world.api.runtime
    sub_id, _ = desk.ready()
    _issue(desk, sub_id)
    with runtime.unit(Actor.system("test")) as ctx:
        audit.checkpoint(ctx)
    old_id = runtime.signing_key.key_id

    rotation = rotate_signing_key(runtime)

    assert rotation.retired_key_id == old_id and rotation.key_id != old_id
    retired = runtime.settings.retired_signing_keys_dir / f"{old_id}.pem"
    assert b"PUBLIC KEY" in retired.read_bytes() and b"PRIVATE" not in retired.read_bytes()
    assert stat.S_IMODE(runtime.settings.signing_key_path.stat().st_mode) == 0o600
    # The next checkpoint is signed with the new key, over a chain the old key's checkpoint
    # anchors; the whole log verifies, each checkpoint with the key it names.
    with runtime.unit(Actor.system("test")) as ctx:
        latest = audit.checkpoint(ctx)
    assert latest.key_id == rotation.key_id
    fresh = Runtime(settings=runtime.settings, engine=runtime.engine)  # another process
    with fresh.unit(Actor.system("test")) as ctx:
        result = audit.verify(ctx, with_checkpoints=True)
    assert result.ok and result.checkpoints_checked == 2, result.reason

    report = desk.world.get(f"/submissions/{sub_id}/report", desk.evaluator).json()
    assert report["key_id"] == rotation.key_id
    assert set(report["public_keys"]) == {old_id, rotation.key_id}
    (first,) = report["versions"]
    assert first["key_id"] == old_id
    data, signature = _signed(desk, sub_id, 1)
    assert verify_report(data, signature, report["public_keys"][old_id]).key_id == old_id
    with pytest.raises(ReportVerificationError):
        verify_report(data, signature, report["public_keys"][rotation.key_id])

    # An amendment is signed with the new key.
    _issue(desk, sub_id, amendment_reason="signed again after the key rotation")
    data, signature = _signed(desk, sub_id, 2)
    assert verify_report(data, signature, report["public_keys"][rotation.key_id]).key_id == (
        rotation.key_id
    )
    audit_events = desk.world.get("/audit", desk.world.agency_admin).json()["items"]
    (event,) = [e for e in audit_events if e["action"] == "keys.signing_rotated"]
    assert event["detail"] == {"retired_key_id": old_id, "key_id": rotation.key_id}


def test_the_cli_rotates_the_signing_key(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREDEPLOY_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("PREDEPLOY_DATABASE_URL", settings.resolved_database_url)
    before = SigningKey.from_settings(settings).key_id

    result = CliRunner().invoke(app, ["keys", "rotate-signing", "--json"])

    assert result.exit_code == 0, result.output
    rotated = json.loads(result.stdout)
    assert rotated["retired_key_id"] == before
    assert SigningKey.from_settings(settings).key_id == rotated["key_id"] != before
    assert set(load_public_keys(settings)) == {before, rotated["key_id"]}
