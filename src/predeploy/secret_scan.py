"""Scanning files for secrets that must never be written in clear: model API keys, API tokens,
the agency's private signing key.

Every file under the given roots is read, and the members of zip archives (Inspect's `.eval`
logs, export bundles) are read decompressed, so a secret inside a compressed log is found too.
SQLite database files are not opened here but by a child process: closing any file
descriptor of a SQLite file drops every POSIX lock this process holds on it, and another process
could then delete the database's WAL under this process's open connections. Findings name the
file, the archive member and the kind of secret, never the secret itself.
"""

from __future__ import annotations

import subprocess
import sys
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


# Run in a child process (see the module docstring): argv names the files, stdin holds the
# secrets in hex, one per line; prints "INDEX<TAB>PATH" for each secret found in each file.
# Files are read in chunks that overlap by one byte less than the longest secret.
_SEARCH_IN_CHILD = """
import sys
wanted = [bytes.fromhex(line) for line in sys.stdin.read().split()]
overlap = max(map(len, wanted)) - 1
for path in sys.argv[1:]:
    found, tail = set(), b""
    with open(path, "rb") as file:
        while chunk := file.read(1 << 20):
            window = tail + chunk
            found.update(i for i, secret in enumerate(wanted) if secret in window)
            tail = window[len(window) - overlap:] if overlap else b""
    for index in sorted(found):
        print(index, path, sep="\t")
"""


def _in_sqlite(paths: Sequence[Path], secrets: Sequence[Secret]) -> list[Leak]:
    """The secrets in SQLite files, searched by a child process. Byte for byte: a secret is
    binary (a raw key may hold newlines), so no line-oriented tool will do."""
    found = subprocess.run(  # noqa: S603 (this interpreter and our own script; secrets on stdin)
        [sys.executable, "-I", "-c", _SEARCH_IN_CHILD, *map(str, paths)],
        input="\n".join(secret.value.hex() for secret in secrets).encode(),
        capture_output=True,
        check=False,
    )
    if found.returncode != 0:
        raise RuntimeError(f"could not scan {', '.join(map(str, paths))}")
    leaks = []
    for line in found.stdout.decode().splitlines():
        index, path = line.split("\t", 1)
        leaks.append(Leak(Path(path), secrets[int(index)].kind))
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
