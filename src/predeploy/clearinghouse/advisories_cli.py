"""`predeploy advisories ...`: draft, publish, list and show advisories (remote, via the SDK).
Listing and showing work without a token, for the public advisories."""

from __future__ import annotations

from pathlib import Path
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
from .cli import read_fields_file

advisories_app = typer.Typer(help="Advisories published from cases.", no_args_is_help=True)

AdvisoryArgument = Annotated[
    str, typer.Argument(help="Advisory id or number (PDXA-2026-0001).", show_default=False)
]


def _show_document(document: dict[str, Any]) -> None:
    console.print(
        f"{document['id']} revision {document['revision']}  TLP:{document['tlp']}  "
        f"case {document['case']}",
        highlight=False,
    )
    console.print(document["title"], highlight=False, markup=False)
    console.print(document["summary"], highlight=False, markup=False)
    if document["aliases"]:
        console.print(f"aliases: {', '.join(document['aliases'])}", highlight=False)
    affected = [
        {
            "product": a["purl"] or a["cpe"] or f"{a['model']['developer']} {a['model']['model']}",
            "ranges": "; ".join(
                ", ".join(f"{k} {v}" for e in r["events"] for k, v in e.items())
                for r in a["ranges"]
            ),
        }
        for a in document["affected"]
    ]
    if affected:
        print_table(affected, ["product", "ranges"], title="affected")
    for statement in document["vendor_statements"]:
        console.print(
            f"{statement['vendor']}: {statement['status']}"
            + (f" ({statement['statement']})" if statement["statement"] else ""),
            highlight=False,
            markup=False,
        )
    console.print(f"remediation: {document['remediation']}", highlight=False, markup=False)
    for reference in document["references"]:
        console.print(f"{reference['type']}: {reference['url']}", highlight=False, markup=False)
    if document["credits"]:
        credits = ", ".join(f"{c['name']} ({c['type']})" for c in document["credits"])
        console.print(f"credits: {credits}", highlight=False, markup=False)


def _show(advisory: dict[str, Any]) -> None:
    current, draft = advisory["current"], advisory["draft"]
    if current is not None:
        _show_document(current["document"])
        console.print(
            f"published {current['published_at']} UTC, sha256 {current['sha256']}",
            highlight=False,
        )
    else:
        console.print(f"{advisory['number']}  not published yet", highlight=False)
    if draft is not None:
        console.print(
            f"draft revision {draft['number']} awaits approval: sha256 {draft['sha256']}",
            highlight=False,
        )


@advisories_app.command("draft")
def draft(
    case: Annotated[str, typer.Argument(help="Case id or number (PDX-2026-0001).")],
    title: Annotated[str, typer.Option(help="The advisory's title.")],
    summary: Annotated[str, typer.Option(help="One paragraph: what, who is affected, impact.")],
    remediation: Annotated[str, typer.Option(help="What users should do.")],
    details: Annotated[str | None, typer.Option(help="The full description.")] = None,
    tlp: Annotated[str, typer.Option(help="The first draft's label; CLEAR is public.")] = "CLEAR",
    alias: Annotated[
        list[str] | None,
        typer.Option("--alias", help="A CVE id (repeatable; default: the case's)."),
    ] = None,
    reference: Annotated[
        list[str] | None, typer.Option("--reference", help="A URL (repeatable), as type WEB.")
    ] = None,
    fields_file: Annotated[
        Path | None,
        typer.Option(
            "--fields",
            help="YAML or JSON with more fields (affected, credits, references, recipients).",
        ),
    ] = None,
    server: ServerOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Draft a case's advisory, or a new revision of it (agency analysts). Prints the draft's
    SHA-256, which a second analyst publishes with `advisories publish`."""
    fields: dict[str, Any] = read_fields_file(fields_file) if fields_file else {}
    fields.update(case=case, title=title, summary=summary, remediation=remediation, tlp=tlp)
    if details is not None:
        fields["details"] = details
    if alias:
        fields["aliases"] = alias
    if reference:
        fields["references"] = [
            *fields.get("references", []),
            *({"type": "WEB", "url": url} for url in reference),
        ]
    with reported_errors(), remote_client(server, token) as client:
        advisory = client.draft_advisory(**fields)
    if as_json:
        print_json(advisory)
    else:
        _show_document(advisory["draft"]["document"])
        console.print(
            f"draft revision {advisory['draft']['number']}: sha256 {advisory['draft']['sha256']}",
            highlight=False,
        )


@advisories_app.command("publish")
def publish(
    advisory: AdvisoryArgument,
    sha256: Annotated[str, typer.Option(help="The SHA-256 of the draft you read.")],
    server: ServerOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Publish an advisory's draft (agency analysts; not its author, under the two-person rule),
    once the case's embargo has ended."""
    with reported_errors(), remote_client(server, token) as client:
        published = client.publish_advisory(advisory, sha256)
    if as_json:
        print_json(published)
    else:
        _show(published)


@advisories_app.command("list")
def list_(
    server: ServerOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Advisories you may see; without a token, the public ones."""
    with reported_errors(), remote_client(server, token, public=True) as client:
        found = list(client.list_advisories())
    if as_json:
        print_json(found)
        return
    rows = [
        {
            "number": a["number"],
            "tlp": a["tlp"],
            "published": a["published_at"] or "draft",
            "revision": a["current"]["number"] if a["current"] else "",
            "title": (a["current"] or a["draft"] or {"document": {"title": ""}})["document"][
                "title"
            ],
        }
        for a in found
    ]
    print_table(rows, ["number", "tlp", "published", "revision", "title"], title="advisories")


@advisories_app.command("show")
def show(
    advisory: AdvisoryArgument,
    revision: Annotated[int | None, typer.Option(help="A published revision.", min=1)] = None,
    server: ServerOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """One advisory (its published revision, and to analysts the pending draft)."""
    with reported_errors(), remote_client(server, token, public=True) as client:
        found = client.get_advisory(advisory, revision)
    if as_json:
        print_json(found)
    elif revision is not None:
        _show_document(found["document"])
    else:
        _show(found)
