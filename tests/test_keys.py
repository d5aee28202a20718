from __future__ import annotations

import stat
from pathlib import Path

from predeploy.config import Settings
from predeploy.keys import SecretBox, SigningKey, verify_signature


def test_keys_are_created_once_with_mode_0600(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    box = SecretBox.from_settings(settings)
    signer = SigningKey.from_settings(settings)
    for path in (settings.secret_key_path, settings.signing_key_path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again_box = SecretBox.from_settings(settings)
    assert again_box.decrypt(box.encrypt("sk-live-123")) == "sk-live-123"
    assert SigningKey.from_settings(settings).key_id == signer.key_id


def test_signature_verifies_and_detects_change(tmp_path: Path) -> None:
    signer = SigningKey.from_settings(Settings(data_dir=tmp_path))
    signature = signer.sign(b"head=abc;count=3")
    assert verify_signature(signer.public_key, b"head=abc;count=3", signature)
    assert not verify_signature(signer.public_key, b"head=abc;count=2", signature)
    assert not verify_signature(signer.public_key, b"head=abc;count=3", "not base64!")


def test_ciphertext_does_not_contain_the_secret(tmp_path: Path) -> None:
    box = SecretBox.from_settings(Settings(data_dir=tmp_path))
    assert b"sk-live-123" not in box.encrypt("sk-live-123")


def test_a_different_server_key_cannot_decrypt(tmp_path: Path) -> None:
    token = SecretBox.from_settings(Settings(data_dir=tmp_path / "a")).encrypt("secret")
    other = SecretBox.from_settings(Settings(data_dir=tmp_path / "b"))
    try:
        other.decrypt(token)
    except ValueError as exc:
        assert "cannot be decrypted" in str(exc)
    else:
        raise AssertionError("decrypted with the wrong key")
