"""CLI: `predeploy logs export` (remote, via the SDK): a campaign's Inspect logs for `inspect view`.

The copies hold an unreleased model's transcripts and working exploits: they are written readable
only by the evaluator who exports them (directories 0700, files 0600).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from ..cli_support import ServerOption, TokenOption, console, fail, remote_client, reported_errors
from ..client import Client

logs_app = typer.Typer(
    help="Eval logs of campaigns (agency evaluators and admins).", no_args_is_help=True
)


def _plain(value: object) -> bool:
    """Whether a server-given name is safe to use as one path component."""
    return (
        isinstance(value, str)
        and value not in ("", ".", "..")
        and not any(c in value for c in "/\\\0")
    )


def _private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)


def _download(client: Client, campaign_id: str, entry: dict[str, Any], target: Path) -> None:
    """Fetch one file into `target` (0600), or fail if its bytes do not match its SHA-256."""
    job_id, name = entry["job_id"], entry["name"]
    descriptor, partial = tempfile.mkstemp(dir=target.parent, prefix=".export-")  # mode 0600
    digest = hashlib.sha256()
    try:
        with os.fdopen(descriptor, "wb") as handle:
            for chunk in client.download_campaign_log(campaign_id, job_id, name):
                digest.update(chunk)
                handle.write(chunk)
        if digest.hexdigest() != entry["sha256"]:
            fail(
                f"{job_id}/{name}: the downloaded bytes do not match the listed SHA-256 "
                "(did the file change while the job was running?); nothing was kept of it",
                field="sha256",
            )
        Path(partial).replace(target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            Path(partial).unlink()


@logs_app.command("export")
def export(
    campaign_id: Annotated[str, typer.Argument(metavar="CAMPAIGN", help="Campaign id.")],
    out: Annotated[
        Path, typer.Option("--out", help="Directory to write into: OUT/<job id>/<file>.")
    ],
    force: Annotated[
        bool, typer.Option("--force", help="Write into OUT even if it is not empty.")
    ] = False,
    server: ServerOption = None,
    token: TokenOption = None,
) -> None:
    """Download a campaign's Inspect logs, each checked against its SHA-256, to open locally
    with `inspect view` (agency evaluators and admins)."""
    if out.exists() and not out.is_dir():
        fail(f"{out} exists and is not a directory", field="out")
    if out.is_dir() and any(out.iterdir()) and not force:
        fail(f"{out} is not empty; choose an empty directory or pass --force", field="out")
    with reported_errors(), remote_client(server, token) as client:
        files = client.campaign_logs(campaign_id)
        for entry in files:
            if not (_plain(entry.get("job_id")) and _plain(entry.get("name"))):
                fail(f"the server listed an unsafe file name: {entry!r}", field="name")
        try:
            _private_dir(out)
            for entry in files:
                directory = out / entry["job_id"]
                _private_dir(directory)
                _download(client, campaign_id, entry, directory / entry["name"])
        except OSError as exc:
            fail(f"cannot write into {out}: {exc.strerror or exc}", field="out")
    size = sum(int(entry["size"]) for entry in files)
    console.print(
        f"exported {len(files)} files ({size} bytes) of campaign {campaign_id} to {out}",
        markup=False,
        highlight=False,
    )
    console.print(
        "they hold transcripts and working exploits of an unreleased model: keep them private.\n"
        f"open them with:  inspect view --log-dir {out}",
        markup=False,
        highlight=False,
    )
