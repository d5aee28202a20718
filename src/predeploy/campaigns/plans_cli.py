"""CLI: `predeploy plans import|list|show|versions|export` (remote, via the SDK)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

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
from ..errors import InvalidInput
from .plans import MAX_PLAN_BYTES, load_plan_yaml

plans_app = typer.Typer(help="Test plans: what a campaign runs.", no_args_is_help=True)

_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def _duration(seconds: float) -> str:
    """`1h 30m` for 5400 seconds (the two largest units; seconds only below a minute)."""
    left = round(seconds)
    parts: list[str] = []
    for unit, size in _UNITS:
        if left >= size or (unit == "s" and not parts):
            parts.append(f"{left // size}{unit}")
            left %= size
    return " ".join(parts[:2])


def _read_plan(path: Path) -> str:
    """The plan file's text, checked here so that a bad plan is reported before anything is sent."""
    if path.stat().st_size > MAX_PLAN_BYTES:
        fail(f"{path}: larger than {MAX_PLAN_BYTES} bytes (1 MiB)", field="file")
    try:
        source = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        fail(f"{path}: not UTF-8 text", field="file")
    try:
        load_plan_yaml(source)
    except InvalidInput as exc:
        fail(f"{path}: {exc.message}", field=exc.field)
    return source


def _limits(limits: dict[str, Any]) -> str:
    shown = []
    for key, value in limits.items():
        if value is None:
            continue
        if key == "time":
            shown.append(f"time={_duration(value)}")
        elif key == "cost":
            shown.append(f"cost=${value:g}")
        else:
            shown.append(f"{key}={value}")
    return ", ".join(shown) or "-"


def _estimate(plan: dict[str, Any]) -> str:
    return f"{_duration(plan['estimated_duration_seconds'])} ({plan['estimate_source']})"


def _summary_rows(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "name": plan["name"],
            "version": plan["version"],
            "items": plan["items"],
            "estimate": escape(_estimate(plan)),
            "digest": plan["digest"][:12],
            "created_at": plan["created_at"],
        }
        for plan in items
    ]


def _show(plan: dict[str, Any]) -> None:
    document = plan["document"]
    console.print(
        f"plan [bold]{plan['name']}[/bold] version {plan['version']} ({plan['id']})",
        highlight=False,
    )
    if plan["description"]:
        console.print(f"  {plan['description']}", markup=False, highlight=False)
    console.print(
        f"  estimate {_estimate(plan)}; declared {_duration(plan['declared_duration_seconds'])}",
        markup=False,
        highlight=False,
    )
    elicitation = document["elicitation"]
    agent = elicitation["agent"] or "(the task's own)"
    console.print(
        f"  agent {agent}, attempts {elicitation['attempts']}"
        + (", with a system prompt" if elicitation["system_prompt"] else ""),
        markup=False,
        highlight=False,
    )
    items = [
        {
            "index": index,
            "task": escape(item["task"]),
            "args": escape(json.dumps(item["task_args"])) if item["task_args"] else "",
            "epochs": item["epochs"],
            "limits": escape(_limits(item["limits"])),
            "sandbox": item["sandbox"] or "(task's)",
            "variant": item["variant"] or "(first)",
        }
        for index, item in enumerate(document["items"])
    ]
    print_table(items, ["index", "task", "args", "epochs", "limits", "sandbox", "variant"], "Items")
    if document["reference_models"]:
        references = [
            {key: escape(str(value)) if value else "" for key, value in ref.items()}
            for ref in document["reference_models"]
        ]
        print_table(references, ["label", "model", "base_url", "api_key_env"], "Reference models")


@plans_app.command("import")
def import_plan(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="A YAML plan.")
    ],
    server: ServerOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Import a plan from YAML: a new version, unless the latest one has the same content."""
    source = _read_plan(file)
    with reported_errors(), remote_client(server, token) as client:
        plan = client.import_plan(source)
    if as_json:
        print_json(plan)
    elif plan["created"]:
        console.print(f"imported {plan['name']} version {plan['version']}", highlight=False)
    else:
        console.print(f"unchanged: {plan['name']} version {plan['version']}", highlight=False)


@plans_app.command("list")
def list_plans(
    server: ServerOption = None, token: TokenOption = None, as_json: JsonOption = False
) -> None:
    """The latest version of every plan."""
    with reported_errors(), remote_client(server, token) as client:
        found = client.list_plans()
    if as_json:
        print_json(found)
    else:
        columns = ["name", "version", "items", "estimate", "digest", "created_at"]
        print_table(_summary_rows(found), columns, "Test plans")


@plans_app.command("show")
def show(
    ref: Annotated[str, typer.Argument(help="NAME (latest version), NAME@VERSION or plan id.")],
    server: ServerOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """One plan version with its items."""
    with reported_errors(), remote_client(server, token) as client:
        plan = client.get_plan(ref)
    if as_json:
        print_json(plan)
    else:
        _show(plan)


@plans_app.command("versions")
def versions(
    name: str,
    server: ServerOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Every version of a plan, oldest first."""
    with reported_errors(), remote_client(server, token) as client:
        found = client.plan_versions(name)
    if as_json:
        print_json(found)
    else:
        columns = ["name", "version", "items", "estimate", "digest", "created_at"]
        print_table(_summary_rows(found), columns, f"Versions of {escape(name)}")


@plans_app.command("export")
def export(
    ref: Annotated[str, typer.Argument(help="NAME (latest version), NAME@VERSION or plan id.")],
    out: Annotated[
        Path | None, typer.Option("--out", dir_okay=False, help="Write here, not to stdout.")
    ] = None,
    server: ServerOption = None,
    token: TokenOption = None,
) -> None:
    """A plan as YAML (importing it again changes nothing)."""
    with reported_errors(), remote_client(server, token) as client:
        text = client.export_plan(ref)
    if out is None:
        sys.stdout.write(text)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror}", field="out")
    console.print(f"wrote {escape(str(out))}", highlight=False)
