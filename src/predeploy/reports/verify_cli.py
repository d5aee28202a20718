"""CLI: `predeploy report verify REPORT.json --signature SIG --public-key KEY`, fully offline.

It reads those three files and nothing else: no settings, no database, no data dir, so anyone given
a report can check it on any machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..cli_support import JsonOption, console, fail, print_json
from ._signing import ReportVerificationError, verify_report

# Exit status when an input file cannot be read at all (as for a usage error), as opposed to 1:
# read, and found not to verify.
EXIT_UNREADABLE = 2

# What each `ReportVerificationError.field` is called on this command line.
_OPTION_FOR_FIELD = {
    "report": "REPORT",
    "signature": "--signature",
    "public_key": "--public-key",
}


def _read(path: Path, option: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        fail(
            f"cannot read {option} file {path}: {exc.strerror}", field=option, code=EXIT_UNREADABLE
        )


def verify(
    report: Annotated[
        Path, typer.Argument(help="The report JSON exactly as issued.", show_default=False)
    ],
    signature: Annotated[
        Path, typer.Option("--signature", help="Its detached signature (REPORT.json.sig).")
    ],
    public_key: Annotated[
        Path, typer.Option("--public-key", help="The issuer's Ed25519 public key (PEM).")
    ],
    as_json: JsonOption = False,
) -> None:
    """Check a signed report offline: exit 0 if valid, 1 naming what is wrong, 2 if unreadable."""
    data = _read(report, "REPORT")
    signature_text = _read(signature, "--signature")
    key_pem = _read(public_key, "--public-key")
    try:
        verified = verify_report(data, signature_text, key_pem)
    except ReportVerificationError as exc:
        field = _OPTION_FOR_FIELD.get(exc.field or "", exc.field)
        if as_json:
            print_json({"valid": False, "error": exc.message, "field": field})
            raise typer.Exit(1) from exc
        fail(f"report NOT valid: {exc.message}", field=field)
    if as_json:
        print_json({"valid": True, "sha256": verified.sha256, "key_id": verified.key_id})
    else:
        console.print(
            f"valid: sha256 {verified.sha256}, key {verified.key_id}",
            highlight=False,
            soft_wrap=True,
        )
