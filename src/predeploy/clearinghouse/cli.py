"""`predeploy vulns ...`: file, list, show and triage vulnerability reports (remote, via the SDK)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml  # type: ignore[import-untyped]

from ..cli_support import (
    JsonOption,
    ServerOption,
    TokenOption,
    console,
    fail,
    print_json,
    print_table,
    remote_client,
    reported_errors,
)

vulns_app = typer.Typer(
    help="Vulnerability reports filed with the clearinghouse.", no_args_is_help=True
)

VulnArgument = Annotated[str, typer.Argument(help="Vulnerability report id.", show_default=False)]
MAX_REPORT_FILE_BYTES = 1_048_576


def read_fields_file(path: Path) -> dict[str, Any]:
    """The fields in a YAML or JSON file of at most 1 MiB."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}", field="file")
    if len(raw) > MAX_REPORT_FILE_BYTES:
        fail(f"{path} is larger than 1 MiB", field="file")
    try:
        body = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        fail(f"{path} is not valid YAML or JSON: {exc}", field="file")
    if not isinstance(body, dict):
        fail(f"{path} must hold one mapping of fields", field="file")
    return body


def _summary(vuln: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": vuln["id"],
        "kind": vuln["kind"],
        "tlp": vuln["tlp"],
        "status": vuln["status"],
        "priority": vuln["priority"],
        "title": vuln["title"],
    }


def _show(vuln: dict[str, Any]) -> None:
    console.print(
        f"{vuln['id']}  {vuln['kind']}  TLP:{vuln['tlp']}  {vuln['status']}  "
        f"priority {vuln['priority']}",
        highlight=False,
    )
    console.print(vuln["title"], highlight=False, markup=False)
    if vuln["cvss"]:
        cvss = vuln["cvss"]
        console.print(
            f"CVSS {cvss['version']} {cvss['base_score']} {cvss['severity']}: {cvss['vector']}",
            highlight=False,
        )
    if vuln["duplicate_of"]:
        console.print(f"duplicate of {vuln['duplicate_of']}", highlight=False)
    if vuln["close_reason"]:
        console.print(f"closed: {vuln['close_reason']}", highlight=False, markup=False)
    if vuln["ssvc"]:
        console.print(f"SSVC coordinator triage: {vuln['ssvc'].get('outcome')}", highlight=False)
    console.print(f"fingerprint {vuln['fingerprint']}", highlight=False)


@vulns_app.command("file")
def file(
    report: Annotated[
        Path, typer.Argument(help="YAML or JSON file with the report's fields.", show_default=False)
    ],
    server: ServerOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """File a vulnerability report from a file (fields: kind, title, description, tlp,
    recipients, cwe, cvss, affected, model, technique, root_cause, evidence, provenance,
    consent; see docs/clearinghouse.md)."""
    body = read_fields_file(report)
    with reported_errors(), remote_client(server, token) as client:
        vuln = client.file_vuln(body)
    if as_json:
        print_json(vuln)
    else:
        _show(vuln)


@vulns_app.command("list")
def list_(
    status: Annotated[str | None, typer.Option(help="new, triaged, duplicate, ...")] = None,
    kind: Annotated[str | None, typer.Option(help="ai_model, software or ai_system.")] = None,
    tlp: Annotated[str | None, typer.Option(help="CLEAR, GREEN, AMBER, AMBER+STRICT, RED.")] = None,
    query: Annotated[str | None, typer.Option("--query", "-q", help="Words to search.")] = None,
    server: ServerOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Vulnerability reports you may see, newest first."""
    with reported_errors(), remote_client(server, token) as client:
        vulns = list(client.list_vulns(status=status, kind=kind, tlp=tlp, q=query))
    if as_json:
        print_json(vulns)
    else:
        print_table(
            [_summary(v) for v in vulns], ["id", "kind", "tlp", "status", "priority", "title"]
        )


@vulns_app.command("show")
def show(
    vuln: VulnArgument,
    server: ServerOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """One vulnerability report."""
    with reported_errors(), remote_client(server, token) as client:
        found = client.get_vuln(vuln)
    if as_json:
        print_json(found)
    else:
        _show(found)


def _ssvc_values(pairs: list[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key or not value:
            fail(f"--ssvc takes KEY=VALUE (e.g. RP=N); got {pair!r}", field="ssvc")
        values[key] = value
    return values


@vulns_app.command("triage")
def triage(
    vuln: VulnArgument,
    priority: Annotated[
        int | None, typer.Option(min=1, max=5, help="1 (most urgent) to 5.")
    ] = None,
    assignee: Annotated[str | None, typer.Option(help="An agency analyst's user id.")] = None,
    ssvc: Annotated[
        list[str] | None,
        typer.Option(help="A Coordinator Triage decision point value, KEY=VALUE (repeatable)."),
    ] = None,
    status: Annotated[str | None, typer.Option(help="triaged, declined or duplicate.")] = None,
    close_reason: Annotated[str | None, typer.Option(help="Why (declined, duplicate).")] = None,
    duplicate_of: Annotated[str | None, typer.Option(help="The original report's id.")] = None,
    server: ServerOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Record a triage step (agency analysts and admins)."""
    fields: dict[str, Any] = {
        "priority": priority,
        "assignee_id": assignee,
        "ssvc": _ssvc_values(ssvc) if ssvc else None,
        "status": status,
        "close_reason": close_reason,
        "duplicate_of": duplicate_of,
    }
    given = {key: value for key, value in fields.items() if value is not None}
    with reported_errors(), remote_client(server, token) as client:
        found = client.triage_vuln(vuln, **given)
    if as_json:
        print_json(found)
    else:
        _show(found)
