"""CLI: `predeploy backup create` and `restore`: a deployment's database, keys and local artifact
store, backed up into a directory and restored from it. Run where the database and the data dir
are (the settings come from PREDEPLOY_* as for the server)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from .backup import create_backup, restore_backup
from .cli_support import JsonOption, console, err_console, fail, print_json, reported_errors
from .config import Settings

backup_app = typer.Typer(
    help="Back up a deployment (database, keys, artifacts) and restore it.", no_args_is_help=True
)


@contextmanager
def _reported(field: str) -> Iterator[None]:
    """Service errors as `reported_errors` does; a file that cannot be read or written too."""
    with reported_errors():
        try:
            yield
        except OSError as exc:
            fail(f"{exc.filename or ''}: {exc.strerror or exc}", field=field)


@backup_app.command("create")
def create(
    out: Annotated[
        Path, typer.Option("--out", help="A new (or empty) directory to write the backup into.")
    ],
    as_json: JsonOption = False,
) -> None:
    """Back up the database, the server's keys and a local artifact store into a directory
    (mode 0700). Safe while the server runs. The backup holds the private keys: store it
    encrypted and access-controlled."""
    with _reported("out"):
        manifest = create_backup(Settings(), out)
    if as_json:
        print_json(manifest)
        return
    size = sum(f.size for f in manifest.files)
    console.print(
        f"backed up the {manifest.database} database (schema revision "
        f"{manifest.alembic_revision}), the keys and the artifacts: {len(manifest.files)} files, "
        f"{size} bytes, in {out}. It holds the server's private keys: store it encrypted, where "
        "only operators can read it.",
        highlight=False,
        soft_wrap=True,
    )
    for note in manifest.notes:
        err_console.print(f"note: {note}", highlight=False)


@backup_app.command("restore")
def restore(
    from_dir: Annotated[
        Path, typer.Option("--from", help="The backup directory (made by `backup create`).")
    ],
    as_json: JsonOption = False,
) -> None:
    """Restore a backup into this deployment, whose database and data dir must be empty: every
    file is checked against the backup's manifest first, and nothing is written if any differs.
    Start the server afterwards (it migrates the database to this version's schema)."""
    with _reported("from"):
        result = restore_backup(Settings(), from_dir)
    if as_json:
        print_json(result)
        return
    console.print(
        f"restored the {result.database} database (schema revision {result.alembic_revision}), "
        f"{result.key_files} key files and {result.artifact_files} artifact files. Start the "
        "server and the workers now; copy secret.key and signing.key to every other machine "
        "of this deployment.",
        highlight=False,
        soft_wrap=True,
    )
    for note in result.notes:
        err_console.print(f"note: {note}", highlight=False)
