"""Backup and restore of a deployment: its database, the server's keys and a local artifact
store, in one directory with a manifest of every file's SHA-256.

Layout of a backup directory (0700, every file 0600):

    manifest.json
    database/predeploy.sqlite   SQLite: a consistent copy made with SQLite's online backup API
    database/predeploy.dump     PostgreSQL: `pg_dump --format=custom`
    keys/secret.key, keys/signing.key, keys/retired-signing-keys/*.pem, keys/openpgp/...
    artifacts/...               a local artifact store (campaigns' Inspect logs)

A backup holds the keys that decrypt every stored secret and sign as the agency: store it
encrypted and access-controlled. The manifest's hashes catch a damaged or truncated backup; they
do not authenticate it (whoever can rewrite a file can rewrite the manifest too).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Literal

from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from pydantic import BaseModel, ValidationError
from sqlalchemy import Connection, create_engine, func, inspect, literal, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from . import __version__
from .all_models import metadata
from .campaigns import _artifacts
from .campaigns.models import Campaign, Job
from .config import Settings
from .errors import Conflict, InvalidInput, PredeployError
from .migrate import alembic_config

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DATABASE_FILES = {"sqlite": "database/predeploy.sqlite", "postgresql": "database/predeploy.dump"}
KEY_DIRS = ("keys/retired-signing-keys", "keys/openpgp")
DatabaseKind = Literal["sqlite", "postgresql"]


class BackupFile(BaseModel):
    """One file of a backup: its path in the backup directory, SHA-256 (hex) and size."""

    path: str
    sha256: str
    size: int


class BackupManifest(BaseModel):
    """`manifest.json`: what a backup holds, and the hash of each of its files."""

    format_version: int
    predeploy_version: str
    created_at: datetime
    database: DatabaseKind
    alembic_revision: str
    artifact_store: str | None
    """The local artifact store that was copied into `artifacts/` (None: not in the backup)."""
    files: list[BackupFile]
    notes: list[str] = []


class RestoreResult(BaseModel):
    """What a restore wrote."""

    database: DatabaseKind
    alembic_revision: str
    key_files: int
    artifact_files: int
    notes: list[str]


# --- creating a backup ---------------------------------------------------------------------


def create_backup(settings: Settings, out_dir: Path) -> BackupManifest:
    """Back up the deployment of `settings` into `out_dir` (new or empty; made 0700).

    Safe while servers and workers run: the database copy is consistent (SQLite's backup API,
    or pg_dump's snapshot). On failure nothing is left in `out_dir`.
    """
    url = settings.resolved_database_url
    kind = _database_kind(url)
    created = _make_out_dir(out_dir)
    try:
        database_copy = out_dir / DATABASE_FILES[kind]
        if kind == "sqlite":
            _copy_sqlite(_sqlite_path(url), database_copy)
            revision = _revision(f"sqlite:///{database_copy}")
        else:
            revision = _revision(url)
            _pg_dump(url, database_copy)
        for name, source in _key_sources(settings):
            for relative, path in _files_under(source, skip_locks=name == "keys/openpgp"):
                _copy(path, out_dir / name / relative)
        notes = []
        store = settings.resolved_artifact_store
        if _artifacts.is_local(store):
            for relative, path in _files_under(_artifacts.local_path(store)):
                _copy(path, out_dir / "artifacts" / relative)
        else:
            notes.append(f"the artifact store {store} is not local: back it up on its own")
        manifest = BackupManifest(
            format_version=FORMAT_VERSION,
            predeploy_version=__version__,
            created_at=datetime.now(UTC),
            database=kind,
            alembic_revision=revision,
            artifact_store=store if _artifacts.is_local(store) else None,
            files=[_describe(out_dir, path) for path in sorted(_regular_files(out_dir))],
            notes=notes,
        )
        with _create_private(out_dir / MANIFEST) as handle:
            handle.write(manifest.model_dump_json(indent=2).encode() + b"\n")
    except BaseException:
        _remove_contents(out_dir, created)
        raise
    return manifest


def _make_out_dir(out_dir: Path) -> bool:
    """Make `out_dir` private; whether it was created (an existing one must be empty)."""
    if out_dir.exists():
        if not out_dir.is_dir() or any(out_dir.iterdir()):
            raise InvalidInput(f"{out_dir} exists and is not an empty directory", field="out")
        out_dir.chmod(0o700)
        return False
    _make_dirs(out_dir)
    return True


def _remove_contents(out_dir: Path, created: bool) -> None:
    if created:
        shutil.rmtree(out_dir, ignore_errors=True)
        return
    for child in out_dir.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def _copy_sqlite(source: Path, destination: Path) -> None:
    if not source.is_file():
        raise InvalidInput(f"no SQLite database at {source}", field="database_url")
    with _create_private(destination):
        pass
    # mode=rw: never create an empty database where the real one is missing.
    live = sqlite3.connect(f"{source.resolve().as_uri()}?mode=rw", uri=True, timeout=30)
    copy = sqlite3.connect(destination)
    try:
        live.backup(copy)
        # A self-contained file: no -wal beside it is needed to read the copy.
        copy.execute("PRAGMA journal_mode=DELETE")
    finally:
        copy.close()
        live.close()


def _key_sources(settings: Settings) -> list[tuple[str, Path]]:
    """Where each key file or directory lives, by its name in a backup."""
    return [
        ("keys/secret.key", settings.secret_key_path),
        ("keys/signing.key", settings.signing_key_path),
        ("keys/retired-signing-keys", settings.retired_signing_keys_dir),
        ("keys/openpgp", settings.openpgp_home),
    ]


def _files_under(source: Path, *, skip_locks: bool = False) -> Iterator[tuple[str, Path]]:
    """(path relative to `source`, path) of `source` itself if it is a file, or of every
    regular file below it (symlinks and sockets are not followed or copied)."""
    if source.is_file():
        yield "", source
        return
    for path in sorted(_regular_files(source)):
        # gpg's lock files name the process that held them, which does not exist elsewhere.
        if skip_locks and (path.name.endswith(".lock") or path.name.startswith(".#lk")):
            continue
        yield path.relative_to(source).as_posix(), path


def _regular_files(root: Path) -> Iterator[Path]:
    for directory, _, names in os.walk(root):
        for name in names:
            path = Path(directory, name)
            if path.is_file() and not path.is_symlink():
                yield path


def _copy(source: Path, destination: Path) -> None:
    with source.open("rb") as reader, _create_private(destination) as writer:
        shutil.copyfileobj(reader, writer)


def _describe(out_dir: Path, path: Path) -> BackupFile:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return BackupFile(
        path=path.relative_to(out_dir).as_posix(),
        sha256=digest.hexdigest(),
        size=path.stat().st_size,
    )


# --- restoring -----------------------------------------------------------------------------


def restore_backup(settings: Settings, from_dir: Path) -> RestoreResult:
    """Restore the backup in `from_dir` into the (empty) deployment of `settings`.

    Every file is checked against the manifest first, then the target is checked to be empty
    (no predeploy tables in its database, no keys in its data dir, no files in a local artifact
    store); a failed check changes nothing. Campaigns' log locations are moved to the target's
    artifact store when it differs from the backed-up one.
    """
    manifest = _read_manifest(from_dir)
    destinations = {f.path: _destination(settings, manifest, f.path) for f in manifest.files}
    _verify_files(from_dir, manifest)
    url = settings.resolved_database_url
    kind = _database_kind(url)
    if kind != manifest.database:
        raise InvalidInput(
            f"the backup holds a {manifest.database} database but the target is {kind}",
            field="database_url",
        )
    _require_known_revision(manifest)
    _require_empty_target(settings, url, with_artifacts=manifest.artifact_store is not None)

    database_copy = from_dir / DATABASE_FILES[kind]
    if kind == "sqlite":
        _restore_sqlite(database_copy, _sqlite_path(url))
    else:
        _pg_restore(database_copy, url)
    store = settings.resolved_artifact_store
    if manifest.artifact_store and _artifacts.is_local(store) and manifest.artifact_store != store:
        _move_log_locations(url, manifest.artifact_store, store)
    restored = [(path, to) for path, to in destinations.items() if to is not None]
    for path, destination in restored:
        _copy(from_dir / path, destination)
    notes = []
    if manifest.artifact_store and not _artifacts.is_local(store):
        notes.append(f"artifacts/ was not restored: the artifact store {store} is not local")
    return RestoreResult(
        database=kind,
        alembic_revision=manifest.alembic_revision,
        key_files=sum(path.startswith("keys/") for path, _ in restored),
        artifact_files=sum(path.startswith("artifacts/") for path, _ in restored),
        notes=notes,
    )


def _read_manifest(from_dir: Path) -> BackupManifest:
    path = from_dir / MANIFEST
    try:
        manifest = BackupManifest.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        raise InvalidInput(f"{from_dir} holds no {MANIFEST}: not a backup", field="from") from None
    except ValidationError as exc:
        problem = exc.errors()[0]["msg"]
        raise InvalidInput(f"{path} is not a backup manifest: {problem}", field="from") from None
    if manifest.format_version != FORMAT_VERSION:
        raise InvalidInput(
            f"backup format {manifest.format_version} is not supported (this predeploy reads "
            f"format {FORMAT_VERSION})",
            field="from",
        )
    if DATABASE_FILES[manifest.database] not in {f.path for f in manifest.files}:
        raise InvalidInput(f"{path} lists no database file", field="from")
    return manifest


def _destination(settings: Settings, manifest: BackupManifest, path: str) -> Path | None:
    """Where a backup file is restored to (None: not restored file by file: the database copy,
    or artifacts when the target's artifact store is not local)."""
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts or pure.as_posix() != path:
        raise InvalidInput(f"the manifest lists an unsafe path {path!r}", field="from")
    if path == DATABASE_FILES[manifest.database]:
        return None
    for name, target in _key_sources(settings):
        if path == name and name not in KEY_DIRS:
            return target
        if path.startswith(f"{name}/") and name in KEY_DIRS:
            return target.joinpath(*pure.parts[2:])
    if pure.parts[0] == "artifacts" and len(pure.parts) > 1:
        store = settings.resolved_artifact_store
        if not _artifacts.is_local(store):
            return None
        return _artifacts.local_path(store).joinpath(*pure.parts[1:])
    raise InvalidInput(f"the manifest lists an unexpected file {path!r}", field="from")


def _verify_files(from_dir: Path, manifest: BackupManifest) -> None:
    for expected in manifest.files:
        path = from_dir / expected.path
        if not path.is_file():
            raise InvalidInput(f"backup file {expected.path} is missing", field="from")
        actual = _describe(from_dir, path)
        if (actual.size, actual.sha256) != (expected.size, expected.sha256):
            raise InvalidInput(
                f"backup file {expected.path} does not match its SHA-256 in the manifest: the "
                "backup is damaged or was altered; nothing was restored",
                field="from",
            )


def _require_known_revision(manifest: BackupManifest) -> None:
    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    try:
        scripts.get_revision(manifest.alembic_revision)
    except CommandError:
        raise InvalidInput(
            f"the backup's schema revision {manifest.alembic_revision} is unknown to predeploy "
            f"{__version__}: restore it with predeploy {manifest.predeploy_version} or newer",
            field="from",
        ) from None


def _require_empty_target(settings: Settings, url: str, with_artifacts: bool) -> None:
    if _has_predeploy_tables(url):
        raise Conflict(
            "the target database already holds predeploy tables: restore into an empty database",
            field="database_url",
        )
    for _, location in _key_sources(settings):
        if location.is_file() or (location.is_dir() and any(location.iterdir())):
            raise Conflict(
                f"the target already holds keys ({location}): restore into an empty data dir",
                field="data_dir",
            )
    store = settings.resolved_artifact_store
    if with_artifacts and _artifacts.is_local(store):
        path = _artifacts.local_path(store)
        if path.is_dir() and any(path.iterdir()):
            raise Conflict(
                f"the artifact store {path} is not empty: restore into an empty one",
                field="artifact_store",
            )


def _has_predeploy_tables(url: str) -> bool:
    if url.startswith("sqlite") and not _sqlite_path(url).exists():
        return False  # checked without creating the file
    ours = {*metadata.tables, "alembic_version"}
    with _connection(url) as connection:
        return bool(ours & set(inspect(connection).get_table_names()))


def _restore_sqlite(copy: Path, target: Path) -> None:
    _make_dirs(target.parent)
    if not target.exists():
        with _create_private(target):
            pass
    # immutable: reading the copy writes nothing (no journal, no lock) into the backup.
    source = sqlite3.connect(f"{copy.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
    restored = sqlite3.connect(target, timeout=30)
    try:
        source.backup(restored)
    finally:
        restored.close()
        source.close()


def _move_log_locations(url: str, old_store: str, new_store: str) -> None:
    """Point campaigns and jobs at their logs in the new artifact store."""
    with _connection(url) as connection:
        for model, column in ((Campaign, Campaign.log_root), (Job, Job.log_dir)):
            moved = literal(new_store).concat(func.substr(column, len(old_store) + 1))
            connection.execute(
                update(model)
                .where(column.startswith(f"{old_store}/", autoescape=True))
                .values({column: moved})
            )


# --- shared --------------------------------------------------------------------------------


def _database_kind(url: str) -> DatabaseKind:
    backend = make_url(url).get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise InvalidInput(f"cannot back up a {backend} database", field="database_url")
    return "sqlite" if backend == "sqlite" else "postgresql"


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise InvalidInput("an in-memory SQLite database cannot be backed up", field="database_url")
    return Path(database)


@contextmanager
def _connection(url: str) -> Iterator[Connection]:
    """One transaction on the database at `url` (committed if the block succeeds); a database
    that cannot be reached or read is a clear error, not a traceback."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as connection:
            yield connection
    except SQLAlchemyError as exc:
        problem = str(exc).splitlines()[0]
        raise PredeployError(f"cannot use the database: {problem}", field="database_url") from None
    finally:
        engine.dispose()


def _revision(url: str) -> str:
    with _connection(url) as connection:
        revision = MigrationContext.configure(connection).get_current_revision()
    if revision is None:
        raise InvalidInput(
            "the database has no schema revision: not a predeploy database", field="database_url"
        )
    return revision


def _make_dirs(path: Path) -> None:
    """Create `path` and its missing parents, each 0700 (existing ones are left as they are)."""
    for directory in reversed([p for p in (path, *path.parents) if not p.exists()]):
        directory.mkdir(mode=0o700, exist_ok=True)


def _create_private(path: Path) -> BinaryIO:
    """A new file (never an existing one) readable by this user only, opened for writing."""
    _make_dirs(path.parent)
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")


def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    # Debian keeps each major version's tools here, off PATH; the newest reads every older dump.
    candidates = [str(p) for p in Path("/usr/lib/postgresql").glob(f"*/bin/{name}")]
    if not candidates:
        raise PredeployError(
            f"{name} not found on PATH or under /usr/lib/postgresql/*/bin: install the PostgreSQL "
            "client tools of the server's major version (Debian: postgresql-client)",
            field="database_url",
        )
    return max(candidates, key=lambda p: [int(n) for n in re.findall(r"\d+", p)])


def _run_pg_tool(name: str, url: str, arguments: list[str]) -> None:
    """Run pg_dump or pg_restore on the database at `url` (a SQLAlchemy URL): the password goes
    in PGPASSWORD, never on the command line, where every user of the machine could read it."""
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
    libpq = parsed.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    command = [_pg_tool(name), "--no-password", f"--dbname={libpq}", *arguments]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        last = done.stderr.strip().splitlines()[-1:] or [f"exit code {done.returncode}"]
        raise PredeployError(f"{name} failed: {last[0]}", field="database_url")


def database_files(settings: Settings, scratch: Path) -> list[Path]:
    """The files that hold the database's contents as stored, for the secrets scan: SQLite's
    file and its write-ahead log, or a plain-SQL dump of a PostgreSQL database written into the
    directory `scratch` (mode 0600), whose data lives outside any file we can read."""
    url = settings.resolved_database_url
    if _database_kind(url) == "sqlite":
        path = _sqlite_path(url)
        return [p for p in (path, path.with_name(path.name + "-wal")) if p.exists()]
    dump = scratch / "database.sql"
    with _create_private(dump):
        pass  # pg_dump writes into it, keeping its mode
    _run_pg_tool("pg_dump", url, ["--format=plain", f"--file={dump}"])
    return [dump]


def _pg_dump(url: str, destination: Path) -> None:
    with _create_private(destination):
        pass  # pg_dump writes into it, keeping its mode
    _run_pg_tool("pg_dump", url, ["--format=custom", f"--file={destination}"])


def _pg_restore(dump: Path, url: str) -> None:
    # One transaction: a failure leaves the target empty. Objects are owned by the restoring
    # role (the target cluster need not have the source's roles), as migrations would make them.
    options = ["--single-transaction", "--exit-on-error", "--no-owner", "--no-acl"]
    _run_pg_tool("pg_restore", url, [*options, str(dump)])
