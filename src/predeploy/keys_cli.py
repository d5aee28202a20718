"""CLI: `predeploy keys export-public` and `export-openpgp`: hand out the agency's public keys
for offline verification (of reports, and of CSAF documents)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from .cli_support import (
    JsonOption,
    console,
    err_console,
    fail,
    local_runtime,
    print_json,
    reported_errors,
)
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


@keys_app.command("rotate-secret")
def rotate_secret(as_json: JsonOption = False) -> None:
    """Re-encrypt every stored secret (API keys, webhook secrets, proofs of concept, the OpenPGP
    passphrase) under a new server key, then retire the old one. Run where the database and the
    data dir are; restart every API process and worker afterwards, with the new secret.key
    copied to each machine."""
    from dataclasses import asdict

    from .key_rotation import rotate_secret_key
    from .migrate import upgrade

    runtime = local_runtime()
    with reported_errors():
        upgrade(runtime.settings.resolved_database_url)
        rotation = rotate_secret_key(runtime)
    if as_json:
        print_json(asdict(rotation))
        return
    console.print(
        f"re-encrypted {rotation.access_keys} API keys, {rotation.webhook_secrets} webhook "
        f"secrets, {rotation.attachments} proofs of concept"
        + (" and the OpenPGP passphrase" if rotation.openpgp_passphrase else "")
        + f" under a new key in {runtime.settings.secret_key_path}; retired "
        f"{rotation.retired_keys} old key(s). Restart every API process and worker, and copy "
        "the new key file to every machine that runs one.",
        highlight=False,
        soft_wrap=True,
    )


@keys_app.command("rotate-signing")
def rotate_signing(as_json: JsonOption = False) -> None:
    """Retire the agency's signing key and sign with a new one from now on. The old key's public
    half stays in the data dir, so reports and audit checkpoints it signed still verify; restart
    every API process afterwards, and hand out the new public key (`keys export-public`)."""
    from dataclasses import asdict

    from .key_rotation import rotate_signing_key
    from .migrate import upgrade

    runtime = local_runtime()
    with reported_errors():
        upgrade(runtime.settings.resolved_database_url)
        rotation = rotate_signing_key(runtime)
    if as_json:
        print_json(asdict(rotation))
        return
    console.print(
        f"retired signing key {rotation.retired_key_id} (its public half is kept in "
        f"{runtime.settings.retired_signing_keys_dir}); new signing key {rotation.key_id}. "
        "Restart every API process, and publish the new public key (predeploy keys "
        "export-public).",
        highlight=False,
        soft_wrap=True,
    )
