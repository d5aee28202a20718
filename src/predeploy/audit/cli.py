"""CLI: `predeploy audit verify|checkpoint|public-key` (server-side) and `predeploy audit list`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.exc import SQLAlchemyError

from ..accounts.actor import Actor
from ..cli_support import (
    JsonOption,
    ServerOption,
    TokenOption,
    console,
    err_console,
    fail,
    local_runtime,
    print_json,
    print_table,
    remote_client,
    reported_errors,
)
from . import service

audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)

# Exit status when the chain cannot be read at all, as opposed to 1: read and found tampered.
EXIT_UNREADABLE = 2


@contextmanager
def _database_errors() -> Iterator[None]:
    try:
        yield
    except SQLAlchemyError as exc:
        fail(
            f"cannot read the audit log ({type(exc).__name__}): is the database reachable and "
            "migrated (`predeploy db upgrade`)?",
            code=EXIT_UNREADABLE,
        )


def _load_public_key(path: Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as exc:
        fail(f"cannot read a PEM public key from {path}: {exc}", field="public-key")
    if not isinstance(key, Ed25519PublicKey):
        fail(f"{path} is not an Ed25519 public key", field="public-key")
    return key


@audit_app.command("verify")
def verify(
    checkpoint: Annotated[
        bool,
        typer.Option(
            "--checkpoint",
            help="Also check every signed checkpoint: catches a truncated tail or a rewrite.",
        ),
    ] = False,
    public_key: Annotated[
        Path | None,
        typer.Option(
            help="Agency public key (PEM) to check checkpoints with; default: this server's key."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Walk the whole chain; exit 0 if intact, 1 naming the first bad row otherwise."""
    key = _load_public_key(public_key) if public_key else None
    runtime = local_runtime()
    with (
        _database_errors(),
        reported_errors(),
        runtime.unit(Actor.system("audit verify"), read_only=True) as ctx,
    ):
        result = service.verify(ctx, with_checkpoints=checkpoint, public_key=key)
    if as_json:
        print_json(result)
    elif result.ok:
        anchored = (
            f", consistent with {result.checkpoints_checked} signed checkpoint(s) "
            f"(last at row {result.last_checkpoint_seq})"
            if checkpoint
            else ""
        )
        console.print(
            f"audit chain intact: {result.rows_checked} rows, head row {result.head_seq} "
            f"({result.head_hash}){anchored}",
            highlight=False,
            soft_wrap=True,
        )
    else:
        where = f"first bad row: {result.first_bad_seq}. " if result.first_bad_seq else ""
        err_console.print(
            f"[red]audit chain NOT intact[/red]: {where}{result.reason} "
            f"({result.rows_checked} rows verified before it)",
            highlight=False,
            soft_wrap=True,
        )
    if not result.ok:
        raise typer.Exit(1)


@audit_app.command("checkpoint")
def checkpoint(as_json: JsonOption = False) -> None:
    """Sign the chain's head now; keep the printed checkpoint somewhere off this server."""
    runtime = local_runtime()
    with (
        _database_errors(),
        reported_errors(),
        runtime.unit(Actor.system("audit checkpoint")) as ctx,
    ):
        signed = service.checkpoint(ctx)
    if as_json:
        print_json(signed)
    else:
        console.print(
            f"checkpoint signed at row {signed.seq} (row count {signed.row_count}, "
            f"head {signed.head_hash}) with key {signed.key_id}",
            highlight=False,
            soft_wrap=True,
        )


@audit_app.command("public-key")
def public_key() -> None:
    """Print the agency's Ed25519 public key (PEM), for verifying checkpoints and reports offline."""
    key = local_runtime().signing_key
    print(key.public_pem(), end="")
    err_console.print(f"key id {key.key_id}", highlight=False)


@audit_app.command("list")
def list_events(
    object_type: Annotated[str | None, typer.Option(help="e.g. submission.")] = None,
    object_id: Annotated[str | None, typer.Option()] = None,
    action: Annotated[str | None, typer.Option(help="e.g. submission.transition.")] = None,
    server: ServerOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Audit events you may read (agency admins: all; org admins: their org's)."""
    with reported_errors(), remote_client(server, token) as client:
        events = client.list_audit(object_type=object_type, object_id=object_id, action=action)
    if as_json:
        print_json(events)
        return
    rows = [
        {
            **e,
            "actor": e["actor"]["label"],
            "object": f"{e['object']['type']} {e['object']['id']}",
        }
        for e in events
    ]
    print_table(rows, ["seq", "time", "actor", "action", "object"], title="Audit log")
