"""The server's own keys: Fernet keys for secrets at rest and the agency's Ed25519 signing key.

Both are created on first use in the data dir with mode 0600 and never leave it.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .config import Settings


def _read_or_create(path: Path, make: bytes) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: two processes starting at once must not both write (and then disagree on) a key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()
    with os.fdopen(fd, "wb") as handle:
        handle.write(make)
    return make


def read_key_ring(path: Path) -> list[bytes]:
    """The Fernet keys in the secret key file, one per line, the current one first."""
    keys = [line.strip() for line in path.read_bytes().splitlines() if line.strip()]
    if not keys:
        raise ValueError(f"{path} holds no key")
    return keys


def write_atomically(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace `path` with `data` atomically (fsynced, then renamed over it): a crash leaves the
    old file or the new one, never a partial file."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def write_key_ring(path: Path, keys: Sequence[bytes]) -> None:
    """Replace the secret key file with `keys` (current first), atomically, mode 0600."""
    if not keys:
        raise ValueError("a key ring needs at least one key")
    write_atomically(path, b"".join(key + b"\n" for key in keys))


class SecretBox:
    """Encrypts and decrypts secrets (model API keys, webhook secrets) for storage.

    The server key file is a key ring, one Fernet key per line: secrets are encrypted with the
    first and decrypted with any, so that a rotation (`predeploy keys rotate-secret`) can add a
    key, re-encrypt everything, then drop the old one, and a crash at any point leaves every
    stored secret readable.
    """

    def __init__(self, keys: bytes | Sequence[bytes]) -> None:
        ring = [keys] if isinstance(keys, bytes) else list(keys)
        self._fernet = MultiFernet([Fernet(key) for key in ring])

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        """Load the server key ring from the data dir, creating a key on first use."""
        _read_or_create(settings.secret_key_path, Fernet.generate_key())
        return cls(read_key_ring(settings.secret_key_path))

    def encrypt(self, plaintext: str) -> bytes:
        return self._fernet.encrypt(plaintext.encode())

    def encrypt_bytes(self, plaintext: bytes) -> bytes:
        return self._fernet.encrypt(plaintext)

    def decrypt_bytes(self, token: bytes) -> bytes:
        try:
            return self._fernet.decrypt(token)
        except InvalidToken as exc:
            raise ValueError("content cannot be decrypted with this server's key") from exc

    def decrypt(self, token: bytes) -> str:
        try:
            return self._fernet.decrypt(token).decode()
        except InvalidToken as exc:
            raise ValueError("secret cannot be decrypted with this server's key") from exc

    def reencrypt(self, token: bytes) -> bytes:
        """`token` encrypted again with the current key (decrypted with whichever key can)."""
        try:
            return self._fernet.rotate(token)
        except InvalidToken as exc:
            raise ValueError("content cannot be decrypted with this server's key") from exc


class SigningKey:
    """The agency's Ed25519 key that signs audit checkpoints, reports and advisories."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._private = private_key

    @classmethod
    def from_settings(cls, settings: Settings) -> SigningKey:
        """Load the signing key from the data dir, creating it on first use."""
        pem = _read_or_create(settings.signing_key_path, new_signing_key_pem())
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{settings.signing_key_path} is not an Ed25519 private key")
        return cls(key)

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self._private.public_key()

    @property
    def key_id(self) -> str:
        """First 16 hex digits of the SHA-256 of the raw public key: names the key in signatures."""
        return public_key_id(self.public_key)

    def public_pem(self) -> str:
        return public_pem(self.public_key)

    def sign(self, message: bytes) -> str:
        """Sign `message`; the signature is returned base64-encoded."""
        return base64.b64encode(self._private.sign(message)).decode()


def new_signing_key_pem() -> bytes:
    """A fresh Ed25519 private key as unencrypted PKCS#8 PEM."""
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_public_keys(settings: Settings) -> dict[str, Ed25519PublicKey]:
    """Every agency public key by key id: the current one and those retired by rotations (kept
    in `retired_signing_keys_dir`, public halves only) so that what they signed still verifies."""
    current = SigningKey.from_settings(settings)
    keys: dict[str, Ed25519PublicKey] = {}
    directory = settings.retired_signing_keys_dir
    if directory.is_dir():
        for path in sorted(directory.glob("*.pem")):
            key = serialization.load_pem_public_key(path.read_bytes())
            if not isinstance(key, Ed25519PublicKey):
                raise ValueError(f"{path} is not an Ed25519 public key")
            keys[public_key_id(key)] = key
    keys[current.key_id] = current.public_key
    return keys


def public_pem(public_key: Ed25519PublicKey) -> str:
    """A public key as SubjectPublicKeyInfo PEM."""
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def public_key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def verify_signature(public_key: Ed25519PublicKey, message: bytes, signature_b64: str) -> bool:
    """True when `signature_b64` is a valid signature of `message` by `public_key`."""
    from cryptography.exceptions import InvalidSignature

    try:
        public_key.verify(base64.b64decode(signature_b64), message)
    except (InvalidSignature, ValueError):
        return False
    return True
