"""CLI: `predeploy keys export-public` and `export-openpgp`: hand out the agency's public keys
for offline verification (of reports, and of CSAF documents)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from .cli_support import JsonOption, console, err_console, fail, print_json, reported_errors
from .config import Settings
from .interop._openpgp import OpenPgpError, csaf_signing_key
from .keys import SecretBox, SigningKey

keys_app = typer.Typer(
    help="The agency's Ed25519 signing key and the OpenPGP key that signs CSAF documents.",
    no_args_is_help=True,
)


@keys_app.command("export-public")
def export_public(
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write the PEM to this file instead of standard output."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Export the agency's public key (PEM) and its key id; creates the key pair on first use."""
    with reported_errors():
        settings = Settings()
    if out is not None and out.resolve() == settings.signing_key_path.resolve():
        fail(f"{out} is the private key itself: choose another file", field="out")
    try:
        key = SigningKey.from_settings(settings)
    except (OSError, ValueError) as exc:
        fail(f"cannot load the signing key {settings.signing_key_path}: {exc}", field="data_dir")
    pem = key.public_pem()
    if out is not None:
        try:
            out.write_text(pem, encoding="ascii")
        except OSError as exc:
            fail(f"cannot write {out}: {exc.strerror}", field="out")
    if as_json:
        print_json({"key_id": key.key_id, "public_key_pem": pem, "path": str(out) if out else None})
    elif out is not None:
        console.print(f"wrote public key {key.key_id} to {out}", highlight=False, soft_wrap=True)
    else:
        # The PEM alone on standard output, so it can be piped or redirected into a file.
        sys.stdout.write(pem)
        err_console.print(f"key id {key.key_id}", highlight=False)


@keys_app.command("export-openpgp")
def export_openpgp(as_json: JsonOption = False) -> None:
    """Print the OpenPGP public key that signs CSAF documents (ASCII-armored) and its
    fingerprint; creates the key on first use."""
    with reported_errors():
        settings = Settings()
    try:
        key = csaf_signing_key(settings, SecretBox.from_settings(settings))
    except (OSError, OpenPgpError) as exc:
        fail(f"cannot load the OpenPGP key in {settings.openpgp_home}: {exc}", field="data_dir")
    if as_json:
        print_json({"fingerprint": key.fingerprint, "public_key": key.public_key})
    else:
        sys.stdout.write(key.public_key)
        err_console.print(f"fingerprint {key.fingerprint}", highlight=False)
