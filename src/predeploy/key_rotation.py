"""Rotation of the server's keys: the secret key (every stored secret re-encrypted under a new
key) and the agency's signing key (a new key id; what the old key signed still verifies).

## The secret key

What the secret key protects: access variants' API keys (`access_keys`), webhook secrets,
proof-of-concept attachments of vulnerability reports, and the passphrase of the OpenPGP key that
signs CSAF documents (a file in the data dir).

The procedure never leaves a secret unreadable, whatever step a crash interrupts:
1. a new key is put first in the key ring file (`secret.key`, one key per line), the old keys
   kept after it: secrets still decrypt, new ones are encrypted with the new key;
2. one database transaction re-encrypts every stored secret with the new key (audited as
   `keys.secret_rotated`); a secret no key of the ring decrypts aborts it, changing nothing;
3. the OpenPGP passphrase file is re-encrypted (replaced atomically);
4. the old keys are dropped from the ring.
Running it again after a crash completes it. Processes that loaded the old ring (API servers,
workers) must be restarted afterwards, with the new `secret.key` copied to every machine.

## The signing key
The current key's public half is kept in `retired-signing-keys/KEY_ID.pem` first, then a new
private key replaces `signing.key` (the old private key is gone: it can sign nothing more).
Reports and audit checkpoints name the key that signed them; the server verifies each with the
public key its id names, and `GET /api/v1/submissions/{id}/report` lists every public key.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet
from sqlalchemy import select

from .accounts.actor import Actor
from .audit.service import record
from .clearinghouse.models import VulnAttachment
from .errors import Conflict
from .interop._openpgp import PASSPHRASE_FILE
from .keys import (
    SecretBox,
    SigningKey,
    new_signing_key_pem,
    read_key_ring,
    write_atomically,
    write_key_ring,
)
from .notifications.models import WebhookSubscription
from .runtime import Context, Runtime
from .submissions.models import AccessKey


@dataclass(frozen=True)
class SecretKeyRotation:
    """What a rotation re-encrypted, and how many old keys it retired."""

    access_keys: int
    webhook_secrets: int
    attachments: int
    openpgp_passphrase: bool
    retired_keys: int


def _reencrypt_rows(ctx: Context, box: SecretBox) -> tuple[int, int, int]:
    def again(token: bytes, what: str) -> bytes:
        try:
            return box.reencrypt(token)
        except ValueError:
            raise Conflict(
                f"{what} cannot be decrypted with any key of the ring: restore the secret key "
                "that encrypted it (nothing was changed)",
                field="secret_key",
            ) from None

    access_keys = ctx.session.scalars(
        select(AccessKey).where(AccessKey.ciphertext.is_not(None)).with_for_update()
    ).all()
    for key in access_keys:
        assert key.ciphertext is not None
        key.ciphertext = again(key.ciphertext, f"the API key of access variant {key.variant_id}")
    hooks = ctx.session.scalars(select(WebhookSubscription).with_for_update()).all()
    for hook in hooks:
        hook.secret_encrypted = again(hook.secret_encrypted, f"the secret of webhook {hook.id}")
    attachments = ctx.session.scalars(
        select(VulnAttachment).where(VulnAttachment.proof_of_concept.is_(True)).with_for_update()
    ).all()
    for attachment in attachments:
        attachment.content = again(attachment.content, f"attachment {attachment.id}")
    ctx.session.flush()
    return len(access_keys), len(hooks), len(attachments)


def _reencrypt_file(path: Path, box: SecretBox) -> bool:
    if not path.exists():
        return False
    try:
        token = box.reencrypt(path.read_bytes())
    except ValueError:
        raise Conflict(
            f"{path} cannot be decrypted with any key of the ring: restore the secret key that "
            "encrypted it",
            field="secret_key",
        ) from None
    write_atomically(path, token)
    return True


def rotate_secret_key(runtime: Runtime) -> SecretKeyRotation:
    """Re-encrypt every stored secret under a new server key and retire the old ones (see the
    module docstring for the steps and why a crash at any of them loses nothing)."""
    settings = runtime.settings
    path = settings.secret_key_path
    SecretBox.from_settings(settings)  # the ring exists from here on
    old = read_key_ring(path)
    new = Fernet.generate_key()
    write_key_ring(path, [new, *old])
    box = SecretBox([new, *old])
    with runtime.unit(Actor.system("keys rotate-secret")) as ctx:
        access_keys, hooks, attachments = _reencrypt_rows(ctx, box)
        counts = {"access_keys": access_keys, "webhook_secrets": hooks, "attachments": attachments}
        record(ctx, "keys.secret_rotated", "server_key", "secret", counts, detail=counts)
    passphrase = _reencrypt_file(settings.openpgp_home / PASSPHRASE_FILE, box)
    write_key_ring(path, [new])
    runtime.forget_keys()
    return SecretKeyRotation(
        access_keys=access_keys,
        webhook_secrets=hooks,
        attachments=attachments,
        openpgp_passphrase=passphrase,
        retired_keys=len(old),
    )


@dataclass(frozen=True)
class SigningKeyRotation:
    """The retired key's id and the new one's."""

    retired_key_id: str
    key_id: str


def rotate_signing_key(runtime: Runtime) -> SigningKeyRotation:
    """Retire the agency's signing key (keeping its public half) and start signing with a new
    one; audited as `keys.signing_rotated`."""
    settings = runtime.settings
    old = SigningKey.from_settings(settings)
    directory = settings.retired_signing_keys_dir
    directory.mkdir(mode=0o755, exist_ok=True)
    write_atomically(directory / f"{old.key_id}.pem", old.public_pem().encode(), 0o644)
    write_atomically(settings.signing_key_path, new_signing_key_pem())
    runtime.forget_keys()
    new_id = runtime.signing_key.key_id
    with runtime.unit(Actor.system("keys rotate-signing")) as ctx:
        change = {"retired_key_id": old.key_id, "key_id": new_id}
        record(ctx, "keys.signing_rotated", "server_key", "signing", change, detail=change)
    return SigningKeyRotation(retired_key_id=old.key_id, key_id=new_id)
