"""`predeploy report ...`: the signed pre-release test report."""

from __future__ import annotations

import typer

from .verify_cli import verify

report_app = typer.Typer(
    help="The signed pre-release test report: verify it offline.", no_args_is_help=True
)
report_app.command("verify")(verify)
