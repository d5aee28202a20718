"""`predeploy cases ...`: open, show, move, invite, status, approve and embargo (with early-end
overrides) of coordinated-disclosure cases (remote, via the SDK)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ..cli_support import (
    JsonOption,
    ServerOption,
    TokenOption,
    console,
    print_json,
    print_table,
    remote_client,
    reported_errors,
)

cases_app = typer.Typer(help="Coordinated-disclosure cases.", no_args_is_help=True)

CaseArgument = Annotated[
    str, typer.Argument(help="Case id or number (PDX-2026-0001).", show_default=False)
]
OrgArgument = Annotated[str, typer.Argument(help="The vendor org's id.", show_default=False)]


def _remaining(seconds: int) -> str:
    if seconds <= 0:
        return "ended"
    days, rest = divmod(seconds, 86_400)
    return f"{days}d {rest // 3600}h left"


def _show(case: dict[str, Any]) -> None:
    console.print(
        f"{case['number']}  {case['state']}  TLP:{case['tlp']}  {case['id']}", highlight=False
    )
    console.print(case["title"], highlight=False, markup=False)
    console.print(
        f"embargo until {case['embargo_end']} UTC "
        f"({_remaining(case['embargo_seconds_remaining'])})",
        highlight=False,
    )
    override = case["embargo_override"]
    if override:
        console.print(
            f"embargo override asked {override['requested_at']} UTC, awaiting a second "
            f"analyst: {override['reason']}",
            highlight=False,
            markup=False,
        )
    if case["close_reason"]:
        console.print(f"closed: {case['close_reason']}", highlight=False, markup=False)
    if case["vulns"]:
        console.print(f"reports: {', '.join(case['vulns'])}", highlight=False)
    if case["vulnerabilities"]:
        print_table(
            [
                {
                    "id": v["id"],
                    "cve": v["cve_id"],
                    "cvss": " / ".join(
                        f"{c['version']} {c['base_score']}"
                        for c in (v["cvss_v3"], v["cvss_v4"])
                        if c
                    ),
                    "title": v["title"],
                }
                for v in case["vulnerabilities"]
            ],
            ["id", "cve", "cvss", "title"],
            title="vulnerabilities",
        )
    if case["vendors"]:
        rows = []
        for vendor in case["vendors"]:
            answers = ", ".join(
                f"{s['status']}{'' if s['approved'] else ' (unapproved)'}"
                for s in vendor["statuses"]
            )
            rows.append(
                {
                    "org": vendor["org_name"],
                    "org_id": vendor["org_id"],
                    "deadline": vendor["deadline"],
                    "overdue": "overdue" if vendor["overdue"] else "",
                    "statuses": answers,
                }
            )
        print_table(rows, ["org", "org_id", "deadline", "overdue", "statuses"], title="vendors")
    console.print(f"{case['posts_count']} posts", highlight=False)


def _output(case: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(case)
    else:
        _show(case)


@cases_app.command("open")
def open_(
    vuln: Annotated[
        list[str], typer.Option("--vuln", help="A vulnerability report id (repeatable).")
    ],
    title: Annotated[str, typer.Option(help="The case's title.")],
    summary: Annotated[str, typer.Option(help="What the case is about.")] = "",
    tlp: Annotated[str, typer.Option(help="CLEAR, GREEN, AMBER, AMBER+STRICT, RED.")] = "AMBER",
    embargo_end: Annotated[
        str | None, typer.Option(help="UTC, e.g. 2027-01-15T12:00:00Z (default: 45 days, noon).")
    ] = None,
    server: ServerOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Open a case from vulnerability reports (agency analysts and admins)."""
    fields: dict[str, Any] = {"vulns": vuln, "title": title, "summary": summary, "tlp": tlp}
    if embargo_end is not None:
        fields["embargo_end"] = embargo_end
    with reported_errors(), remote_client(server, token) as client:
        case = client.open_case(**fields)
    _output(case, as_json)


@cases_app.command("show")
def show(
    case: CaseArgument,
    server: ServerOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """One case: embargo, vulnerabilities, vendors and their statuses."""
    with reported_errors(), remote_client(server, token) as client:
        found = client.get_case(case)
    _output(found, as_json)


@cases_app.command("invite")
def invite(
    case: CaseArgument,
    org: OrgArgument,
    deadline: Annotated[
        str | None, typer.Option(help="Response due (UTC); default 14 days from now.")
    ] = None,
    server: ServerOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Invite a vendor org to a case (agency analysts and admins)."""
    with reported_errors(), remote_client(server, token) as client:
        found = client.invite_vendor(case, org, deadline)
    _output(found, as_json)


@cases_app.command("status")
def vendor_status(
    case: CaseArgument,
    org: OrgArgument,
    vulnerability: Annotated[str, typer.Option(help="The case vulnerability's id.")],
    status: Annotated[
        str,
        typer.Option(
            help="not_yet_assessed, affected, not_affected, fixed or under_investigation."
        ),
    ],
    statement: Annotated[str | None, typer.Option(help="Your statement.")] = None,
    server: ServerOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Set your org's status and statement for a case vulnerability (the vendor's members)."""
    with reported_errors(), remote_client(server, token) as client:
        found = client.set_vendor_status(case, org, vulnerability, status, statement)
    _output(found, as_json)


@cases_app.command("embargo")
def embargo(
    case: CaseArgument,
    end: Annotated[str, typer.Argument(help="New embargo end, UTC (2027-01-15T12:00:00Z).")],
    server: ServerOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Move a case's embargo end, never into the past (agency analysts and admins)."""
    with reported_errors(), remote_client(server, token) as client:
        found = client.set_case_embargo(case, end)
    _output(found, as_json)


@cases_app.command("move")
def move(
    case: CaseArgument,
    state: Annotated[str, typer.Argument(help="coordinating, disclosed or closed.")],
    reason: Annotated[str | None, typer.Option(help="Why (needed to close).")] = None,
    server: ServerOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Move a case: open → coordinating → disclosed, or closed with a reason (analysts)."""
    with reported_errors(), remote_client(server, token) as client:
        found = client.move_case(case, state, reason)
    _output(found, as_json)


@cases_app.command("approve")
def approve(
    case: CaseArgument,
    org: OrgArgument,
    vulnerability: Annotated[str, typer.Option(help="The case vulnerability's id.")],
    server: ServerOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Approve a vendor's status and statement for publication (analysts)."""
    with reported_errors(), remote_client(server, token) as client:
        found = client.approve_vendor_statement(case, org, vulnerability)
    _output(found, as_json)


@cases_app.command("override-embargo")
def override_embargo(
    case: CaseArgument,
    reason: Annotated[str, typer.Option(help="Why the embargo must end now.")],
    server: ServerOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Ask to end a case's embargo now (analysts); a second analyst approves it with
    `approve-override` under the two-person rule."""
    with reported_errors(), remote_client(server, token) as client:
        found = client.request_embargo_override(case, reason)
    _output(found, as_json)


@cases_app.command("approve-override")
def approve_override(
    case: CaseArgument,
    server: ServerOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """End a case's embargo now, as another analyst asked (analysts)."""
    with reported_errors(), remote_client(server, token) as client:
        found = client.approve_embargo_override(case)
    _output(found, as_json)
