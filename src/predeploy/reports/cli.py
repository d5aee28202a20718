"""`predeploy report ...`: draft, approve, show and download the signed pre-release test report
(remote, via the SDK), record findings, set the two-person rule, and verify a report offline."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

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
from ._signing import ReportVerificationError, SignedReport, verify_report, write_signed_report
from .schemas import Severity, report_json_schema
from .verify_cli import verify

report_app = typer.Typer(
    help="The signed pre-release test report: draft, approve, download, verify.",
    no_args_is_help=True,
)
report_app.command("verify")(verify)

findings_app = typer.Typer(help="Evaluators' findings about a submission.", no_args_is_help=True)
report_app.add_typer(findings_app, name="findings")

SubmissionArgument = Annotated[str, typer.Argument(help="Submission id.", show_default=False)]

# What `report download` writes: `report verify REPORT.json --signature REPORT.json.sig
# --public-key agency.pem` checks the directory's files.
STEM = "REPORT"
PUBLIC_KEY_FILE = "agency.pem"


def _digest(version: dict[str, Any]) -> str | None:
    """The SHA-256 of the version's JSON: the signed bytes, or for a draft its current bytes."""
    digest: str | None = version["sha256"] or version.get("draft_sha256")
    return digest


def _show_version(version: dict[str, Any]) -> None:
    digest = _digest(version)
    console.print(
        f"report version {version['version']}: {version['status']}"
        + (f", sha256 {digest}" if digest else "")
        + (f" (amends; reason: {version['amendment_reason']})" if version["supersedes_id"] else ""),
        highlight=False,
        soft_wrap=True,
    )


def _approve_hint(submission: str, version: dict[str, Any]) -> None:
    console.print(
        f"awaiting approval by a second evaluator, after review: `predeploy report approve "
        f"{submission} --sha256 {version['draft_sha256']}`",
        highlight=False,
        soft_wrap=True,
    )


@report_app.command("issue")
def issue(
    submission: SubmissionArgument,
    limitation: Annotated[
        list[str] | None, typer.Option("--limitation", help="A limitation to state (repeatable).")
    ] = None,
    amendment_reason: Annotated[
        str | None,
        typer.Option("--amendment-reason", help="Why (needed once a version was issued)."),
    ] = None,
    server: ServerOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Draft the report from the submission's completed campaigns (agency evaluators); a second
    evaluator then runs `report approve` to sign and issue it."""
    with reported_errors(), remote_client(server, token) as client:
        draft = client.draft_report(submission, limitation or [], amendment_reason)
    if as_json:
        print_json(draft)
        return
    _show_version(draft)
    _approve_hint(submission, draft)


@report_app.command("approve")
def approve(
    submission: SubmissionArgument,
    sha256: Annotated[
        str,
        typer.Option(
            "--sha256",
            help="SHA-256 of the draft you reviewed (`report show`); a draft changed since is "
            "refused.",
        ),
    ],
    server: ServerOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Approve the draft you reviewed, named by its SHA-256: the server signs it and issues it
    to the developer org."""
    with reported_errors(), remote_client(server, token) as client:
        issued = client.approve_report(submission, sha256)
    if as_json:
        print_json(issued)
    else:
        _show_version(issued)


@report_app.command("show")
def show(
    submission: SubmissionArgument,
    server: ServerOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """The report's versions you may see (developers: issued ones) and the signing key's id."""
    with reported_errors(), remote_client(server, token) as client:
        report = client.get_report(submission)
    if as_json:
        print_json(report)
        return
    rows = [
        {
            "version": v["version"],
            "status": v["status"],
            "issued": v["issued_at"],
            "sha256": _digest(v),
            "supersedes": v["supersedes_id"],
        }
        for v in report["versions"]
    ]
    print_table(rows, ["version", "status", "issued", "sha256", "supersedes"])
    console.print(f"signing key {report['key_id']}", highlight=False)
    drafts = [v for v in report["versions"] if v["status"] == "draft" and v.get("draft_sha256")]
    for draft in drafts:
        _approve_hint(submission, draft)


@report_app.command("download")
def download(
    submission: SubmissionArgument,
    out: Annotated[Path, typer.Option("--out", help="Directory to write the files into.")],
    version: Annotated[
        int | None, typer.Option("--version", min=1, help="Default: the latest issued.")
    ] = None,
    server: ServerOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Write REPORT.json, REPORT.json.sig, REPORT.html, REPORT.pdf and agency.pem into DIR, so
    that `report verify DIR/REPORT.json --signature DIR/REPORT.json.sig --public-key
    DIR/agency.pem` checks them offline."""
    with reported_errors(), remote_client(server, token) as client:
        report = client.get_report(submission)
        chosen = version if version is not None else report["latest_issued"]
        if chosen is None:
            fail(f"submission {submission} has no issued report yet", field="version")
        listed = {v["version"]: v for v in report["versions"]}
        entry = listed.get(chosen)
        if entry is None or entry["status"] != "issued":
            fail(f"version {chosen} is not an issued version of this report", field="version")
        key_pem = report.get("public_keys", {}).get(entry["key_id"])
        if key_pem is None:
            fail(
                f"version {chosen} was signed with key {entry['key_id']}, which the server no "
                f"longer lists (its key is now {report['key_id']}): get key {entry['key_id']} "
                "from the agency",
                field="version",
            )
        data = client.report_file(submission, chosen, "json")
        signature = client.report_file(submission, chosen, "sig").decode("ascii").strip()
        html = client.report_file(submission, chosen, "html")
        pdf = client.report_file(submission, chosen, "pdf")
    sha256 = hashlib.sha256(data).hexdigest()
    if sha256 != entry["sha256"]:
        fail(f"downloaded report's SHA-256 {sha256} is not the issued {entry['sha256']}")
    # Check what the server sent exactly as a recipient's `report verify` will, before anything
    # is written: a directory of files that do not verify is worse than none.
    try:
        verify_report(data, signature, key_pem)
    except ReportVerificationError as exc:
        fail(
            f"downloaded report version {chosen} does not verify, nothing was written: "
            f"{exc.message}",
            field=exc.field,
        )
    signed = SignedReport(data=data, signature=signature, key_id=entry["key_id"], sha256=sha256)
    try:
        files = write_signed_report(signed, out, STEM)
        (out / f"{STEM}.html").write_bytes(html)
        (out / f"{STEM}.pdf").write_bytes(pdf)
        (out / PUBLIC_KEY_FILE).write_text(key_pem, encoding="ascii")
    except OSError as exc:
        fail(f"cannot write into {out}: {exc.strerror}", field="out")
    written = {
        "version": chosen,
        "sha256": sha256,
        "key_id": entry["key_id"],
        "report": str(files.report),
        "signature": str(files.signature),
        "html": str(out / f"{STEM}.html"),
        "pdf": str(out / f"{STEM}.pdf"),
        "public_key": str(out / PUBLIC_KEY_FILE),
    }
    if as_json:
        print_json(written)
    else:
        console.print(
            f"wrote report version {chosen} (sha256 {sha256}) to {out}",
            highlight=False,
            soft_wrap=True,
        )


def _transcript(text: str) -> dict[str, Any]:
    parts = text.split(":")
    if len(parts) != 4 or not parts[2].isdigit():
        fail(
            f"--transcript {text!r} is not CAMPAIGN_ID:SAMPLE_ID:EPOCH:MODEL_LABEL",
            field="transcript",
        )
    campaign_id, sample_id, epoch, label = parts
    return {
        "campaign_id": campaign_id,
        "sample_id": sample_id,
        "epoch": int(epoch),
        "model_label": label,
    }


@findings_app.command("add")
def add_finding(
    submission: SubmissionArgument,
    title: Annotated[str, typer.Option("--title", help="One line.")],
    text: Annotated[str, typer.Option("--text", help="What was found.")],
    severity: Annotated[Severity, typer.Option("--severity", help="info .. critical.")],
    transcript: Annotated[
        list[str] | None,
        typer.Option(
            "--transcript",
            help="A supporting sample, CAMPAIGN_ID:SAMPLE_ID:EPOCH:MODEL_LABEL (repeatable).",
        ),
    ] = None,
    server: ServerOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Record a finding (agency evaluators); it goes into the next draft."""
    links = [_transcript(item) for item in transcript or []]
    with reported_errors(), remote_client(server, token) as client:
        finding = client.add_finding(
            submission, title=title, text=text, severity=severity, transcripts=links
        )
    if as_json:
        print_json(finding)
    else:
        console.print(f"finding {finding['id']} recorded", highlight=False)


@findings_app.command("list")
def list_findings(
    submission: SubmissionArgument,
    server: ServerOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """The submission's findings (agency evaluators and admins)."""
    with reported_errors(), remote_client(server, token) as client:
        findings = client.list_findings(submission)
    if as_json:
        print_json(findings)
        return
    rows = [
        {
            "id": f["id"],
            "severity": f["severity"],
            "title": f["title"],
            "transcripts": len(f["transcripts"]),
            "vuln": f["vuln_id"],
        }
        for f in findings
    ]
    print_table(rows, ["id", "severity", "title", "transcripts", "vuln"])


@report_app.command("two-person-rule")
def two_person_rule(
    state: Annotated[
        Literal["on", "off"] | None,
        typer.Argument(help="on or off; omit to show the current setting.", show_default=False),
    ] = None,
    reason: Annotated[
        str | None, typer.Option("--reason", help="Why (recorded in the audit log).")
    ] = None,
    server: ServerOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show, or (agency admins) turn on or off, the two-person rule for issuing reports."""
    if state is not None and not reason:
        fail("give --reason when changing the two-person rule", field="reason")
    with reported_errors(), remote_client(server, token) as client:
        if state is None:
            settings = client.report_settings()
        else:
            assert reason is not None
            settings = client.set_two_person_rule(state == "on", reason)
    if as_json:
        print_json(settings)
    else:
        console.print(
            f"two-person rule: {'on' if settings['two_person_rule'] else 'off'}", highlight=False
        )


@report_app.command("schema")
def schema() -> None:
    """Print the report's JSON Schema (the one published in docs/report.schema.json)."""
    print_json(report_json_schema())
