"""The agency's OpenPGP key, which signs CSAF documents (CSAF 2.0 requirements 19 and 20), run
through Debian's `gpg` by python-gnupg.

The key (Ed25519) is generated once, on first use, in its own GNUPGHOME (`openpgp` in the data
dir, mode 0700), under a file lock so that two processes starting at once make one key. Its
private part is protected at rest by a random passphrase, itself stored encrypted with the
server's secret key (`SecretBox`), as every other secret of the data dir: a copy of the GNUPGHOME
alone signs nothing. The passphrase goes to gpg on a pipe (never in argv, never logged), and
gpg-agent is told not to cache it, so the key is unlocked only while it signs.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import secrets
import stat
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import gnupg  # type: ignore[import-untyped]

from ..config import Settings
from ..keys import SecretBox

PASSPHRASE_FILE = "passphrase.fernet"  # noqa: S105 (a file name)
"""In the GNUPGHOME: the key's passphrase, encrypted with the server's secret key."""
_AGENT_CONF = "default-cache-ttl 0\nmax-cache-ttl 0\n"
_AGENT_SOCKETS = ("S.gpg-agent", "S.gpg-agent.extra", "S.gpg-agent.browser", "S.gpg-agent.ssh")


class OpenPgpError(RuntimeError):
    """The key cannot be made, loaded or used (a server misconfiguration, never bad input)."""


@dataclass(frozen=True)
class OpenPgpKey:
    """The key that signs CSAF documents: its fingerprint, its armored public part, and what
    signing needs (the passphrase is kept out of `repr`)."""

    home: Path
    fingerprint: str
    public_key: str
    created: datetime
    _passphrase: str = field(repr=False)
    _gpg: gnupg.GPG = field(repr=False, compare=False)

    @classmethod
    def load(cls, home: Path, box: SecretBox, user_id: str) -> OpenPgpKey:
        """The key in `home`, generated there (for `user_id`) if there is none yet."""
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        home.chmod(0o700)
        with _locked(home / ".lock"):
            _configure(home)
            gpg = gnupg.GPG(gnupghome=str(home), gpgbinary="gpg")
            passphrase = _passphrase(home, box)
            keys = gpg.list_keys(secret=True)
            if not keys:
                made = gpg.gen_key(_key_parameters(user_id, passphrase))
                if not made.fingerprint:
                    raise OpenPgpError(f"gpg could not generate a key in {home}: {made.status}")
                keys = gpg.list_keys(secret=True)
        if len(keys) != 1:
            raise OpenPgpError(
                f"{home} holds {len(keys)} secret keys: keep exactly the one that signs CSAF "
                "documents"
            )
        fingerprint = keys[0]["fingerprint"]
        public_key = gpg.export_keys(fingerprint)
        created = datetime.fromtimestamp(int(keys[0]["date"]), UTC)
        return cls(home, fingerprint, public_key, created, passphrase, gpg)

    def sign(self, data: bytes) -> str:
        """A detached, ASCII-armored OpenPGP signature of `data`."""
        _socket_dir(self.home)
        signed = self._gpg.sign(
            data, keyid=self.fingerprint, passphrase=self._passphrase, detach=True
        )
        if not signed.data:
            raise OpenPgpError(f"gpg could not sign with the key in {self.home}: {signed.status}")
        return bytes(signed.data).decode("ascii")


_loaded: dict[Path, OpenPgpKey] = {}
_loading = threading.Lock()


def csaf_signing_key(settings: Settings, box: SecretBox) -> OpenPgpKey:
    """The CSAF signing key of these settings' data dir: generated on first use, read from
    disk once per process."""
    home = settings.openpgp_home.resolve()
    with _loading:
        key = _loaded.get(home)
        if key is None:
            # The URL only as far as it is safe in gpg's parameters (one line, no brackets).
            where = re.sub(r"[^A-Za-z0-9.:/_-]", "", settings.public_url)
            key = _loaded[home] = OpenPgpKey.load(home, box, f"predeploy CSAF provider {where}")
    return key


def _configure(home: Path) -> None:
    """gpg-agent's settings, and its sockets redirected to a short private directory."""
    run = _socket_dir(home)
    _write_if_changed(home / "gpg-agent.conf", _AGENT_CONF)
    for name in _AGENT_SOCKETS:
        path = home / name
        if path.exists() and not path.is_file():
            continue  # the live socket of an agent started before redirection: keep using it
        _write_if_changed(path, f"%Assuan%\nsocket={run / name}\n")


def _write_if_changed(path: Path, text: str) -> None:
    # Rewritten only when it differs, so that a gpg of another process never reads it half-written.
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def _socket_dir(home: Path) -> Path:
    """A short private directory for gpg-agent's sockets (named in Assuan redirection files in
    the home): a Unix socket's path is limited to 107 bytes, and a data dir may be deeper than
    that allows. (Made again before each use: a tmp cleaner may have removed it.)"""
    base = Path(tempfile.gettempdir()) / f"predeploy-gnupg-{os.getuid()}"
    run = base / hashlib.sha256(str(home).encode()).hexdigest()[:16]
    for directory in (base, run):
        directory.mkdir(mode=0o700, exist_ok=True)
        info = directory.lstat()
        private = stat.S_ISDIR(info.st_mode) and not stat.S_IMODE(info.st_mode) & 0o077
        if not private or info.st_uid != os.getuid():
            raise OpenPgpError(f"{directory} must be a directory of this user with mode 0700")
    return run


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _passphrase(home: Path, box: SecretBox) -> str:
    path = home / PASSPHRASE_FILE
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(box.encrypt(secrets.token_urlsafe(32)))
    try:
        return box.decrypt(path.read_bytes())
    except ValueError as exc:
        raise OpenPgpError(
            f"{path} cannot be decrypted with this data dir's secret key: the OpenPGP home and "
            "the secret key must come from the same data dir"
        ) from exc


def _key_parameters(user_id: str, passphrase: str) -> str:
    """gpg's unattended key generation: an Ed25519 signing key that does not expire."""
    return (
        "Key-Type: EDDSA\nKey-Curve: ed25519\nKey-Usage: sign\n"
        f"Name-Real: {user_id}\nExpire-Date: 0\nPassphrase: {passphrase}\n%commit\n"
    )
