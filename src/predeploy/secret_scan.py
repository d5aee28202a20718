"""Scanning files for secrets that must never be written in clear: model API keys, API tokens,
the agency's private signing key.

Every file under the given roots is read, and the members of zip archives (Inspect's `.eval`
logs, export bundles) are read decompressed, so a secret inside a compressed log is found too.
SQLite database files are not opened here but by `grep` in a child process: closing any file
descriptor of a SQLite file drops every POSIX lock this process holds on it, and another process
could then delete the database's WAL under this process's open connections. Findings name the
file, the archive member and the kind of secret, never the secret itself.
"""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

SQLITE_SUFFIXES = (".db", ".db-wal", ".db-journal", ".sqlite", ".sqlite-wal")


@dataclass(frozen=True)
class Secret:
    """A secret to look for: its kind (e.g. `model API key`) and its value."""

    kind: str
    value: bytes = field(repr=False)


@dataclass(frozen=True)
class Leak:
    """A secret found in clear: where, and which kind (never its value)."""

    path: Path
    kind: str
    member: str | None = None

    def __str__(self) -> str:
        where = f"{self.path}!{self.member}" if self.member else str(self.path)
        return f"{self.kind} in {where}"


def _files(roots: Iterable[Path], skip: frozenset[Path]) -> Iterator[Path]:
    """Each regular file under `roots` once (roots may overlap), except those in `skip`."""
    seen = set(skip)
    for root in roots:
        candidates = [root] if root.is_file() else sorted(root.rglob("*"))
        for path in candidates:
            if path.is_file() and not path.is_symlink() and path.resolve() not in seen:
                seen.add(path.resolve())
                yield path


def _in_blob(blob: bytes, secrets: Sequence[Secret]) -> list[str]:
    return [secret.kind for secret in secrets if secret.value in blob]


def _in_sqlite(paths: Sequence[Path], secrets: Sequence[Secret]) -> list[Leak]:
    grep = shutil.which("grep")
    if grep is None:
        raise RuntimeError("grep is needed to scan SQLite database files")
    leaks = []
    for secret in secrets:
        found = subprocess.run(  # noqa: S603 (a fixed command; the secret goes on stdin)
            [
                grep,
                "--files-with-matches",
                "--text",
                "--fixed-strings",
                "--file=-",
                *map(str, paths),
            ],
            input=secret.value,
            capture_output=True,
            check=False,
        )
        if found.returncode > 1:
            raise RuntimeError(f"could not scan {', '.join(map(str, paths))}")
        leaks += [Leak(Path(line), secret.kind) for line in found.stdout.decode().splitlines()]
    return leaks


def scan(
    roots: Iterable[Path], secrets: Sequence[Secret], *, skip: Iterable[Path] = ()
) -> list[Leak]:
    """Every place under `roots` (files or directories) where one of `secrets` appears in
    clear, zip members included; `skip` lists files that are meant to hold a secret (the key
    files themselves)."""
    wanted = [secret for secret in secrets if secret.value]
    skipped = frozenset(path.resolve() for path in skip)
    leaks: list[Leak] = []
    databases: list[Path] = []
    for path in _files(roots, skipped):
        if path.name.endswith(SQLITE_SUFFIXES) or path.name.endswith("-shm"):
            databases.append(path)
            continue
        leaks += [Leak(path, kind) for kind in _in_blob(path.read_bytes(), wanted)]
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                for member in archive.namelist():
                    blob = archive.read(member)
                    leaks += [Leak(path, kind, member) for kind in _in_blob(blob, wanted)]
    if databases and wanted:
        leaks += _in_sqlite(databases, wanted)
    return leaks
