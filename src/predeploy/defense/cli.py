"""`predeploy check FILE`: which of my components are affected? (remote, via the SDK)."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from ..cli_support import (
    ServerOption,
    TokenOption,
    console,
    fail,
    print_table,
    remote_client,
    reported_errors,
)
from ._sarif import to_sarif


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    SARIF = "sarif"


def _rows(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "component": f"{f['component']['name']} {f['component']['version']}",
            "advisory": f["advisory"],
            "aliases": ", ".join(f["aliases"]),
            "severity": f"{f['severity']['rating']} {f['severity']['base_score']}"
            if f["severity"]
            else "",
            "fixed": ", ".join(f["fixed"]),
        }
        for f in findings
    ]


def check(
    inventory: Annotated[
        Path, typer.Argument(help="CycloneDX JSON, SPDX JSON, or pip requirements / freeze.")
    ],
    output: Annotated[OutputFormat, typer.Option("--format", help="How to print.")] = (
        OutputFormat.TABLE
    ),
    server: ServerOption = None,
    token: TokenOption = None,
) -> None:
    """Match every component against the advisories you may see (OSV semantics); exits 1 when
    anything is affected."""
    try:
        content = inventory.read_bytes()
    except OSError as exc:
        fail(f"cannot read {inventory}: {exc.strerror}", field="inventory")
    with reported_errors(), remote_client(server, token) as client:
        result = client.check(content)
    if output is OutputFormat.JSON:
        console.out(json.dumps(result, indent=2), highlight=False)
    elif output is OutputFormat.SARIF:
        console.out(json.dumps(to_sarif(result, inventory.as_posix()), indent=2), highlight=False)
    else:
        columns = ["component", "advisory", "aliases", "severity", "fixed"]
        if result["affected"]:
            print_table(_rows(result["affected"]), columns, title="affected")
        if result["undetermined"]:
            print_table(_rows(result["undetermined"]), columns, title="undetermined")
        for skipped in result["skipped"]:
            console.print(f"skipped {skipped['name']} ({skipped['ref']}): {skipped['reason']}",
                          highlight=False, markup=False)  # fmt: skip
        console.print(
            f"{result['components']} components ({result['format']}): "
            f"{len({f['component']['ref'] for f in result['affected']})} affected, "
            f"{len(result['undetermined'])} undetermined, {len(result['skipped'])} skipped",
            highlight=False,
        )
    if result["affected"]:
        raise typer.Exit(1)
