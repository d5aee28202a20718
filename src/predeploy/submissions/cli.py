"""CLI: `predeploy models ...`, `predeploy submit`, `predeploy submissions ...` (remote, via the SDK)."""

from __future__ import annotations

import mimetypes
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import TypeAdapter, ValidationError

from ..cli_support import (
    JsonOption,
    ServerOption,
    TokenOption,
    console,
    fail,
    print_json,
    print_table,
    read_secret,
    remote_client,
    reported_errors,
)
from ..client import Client
from .schemas import AccessVariantIn, AttachmentKind, AwareDatetime, ModelCreate, SubmissionCreate

models_app = typer.Typer(help="Models registered for testing.", no_args_is_help=True)
submissions_app = typer.Typer(help="Pre-release submissions.", no_args_is_help=True)

_when_adapter: TypeAdapter[datetime] = TypeAdapter(AwareDatetime)


def _when(value: str | None, option: str) -> str | None:
    """Check a datetime option before anything is sent; the error names the option."""
    if value is None:
        return None
    try:
        return _when_adapter.validate_python(value).isoformat()
    except ValidationError as exc:
        fail(f"--{option}: {exc.errors()[0]['msg']}", field=option)


@models_app.command("create")
def create_model(
    name: str,
    version: Annotated[str, typer.Option(help="Version or checkpoint id.")],
    weights_digest: Annotated[str | None, typer.Option(help="e.g. sha256:<64 hex>.")] = None,
    modality: Annotated[
        list[str] | None, typer.Option("--modality", help="Repeat: text, image, audio, ...")
    ] = None,
    training_flop: Annotated[float | None, typer.Option(help="Declared training FLOP.")] = None,
    frontier: Annotated[bool, typer.Option("--frontier", help="Declare it frontier.")] = False,
    server: ServerOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register a model of your organisation."""
    fields: dict[str, Any] = {"name": name, "version": version, "declared_frontier": frontier}
    if weights_digest is not None:
        fields["weights_digest"] = weights_digest
    if modality:
        fields["modalities"] = modality
    if training_flop is not None:
        fields["training_flop"] = training_flop
    with reported_errors():
        body = ModelCreate(**fields)
        with remote_client(server, token) as client:
            model = client.create_model(**body.model_dump(mode="json"))
    if as_json:
        print_json(model)
    else:
        scope = "in scope" if model["in_scope"] else "out of scope"
        console.print(
            f"model {model['name']} {model['version']} ({model['id']}): {scope}, "
            f"{model['scope_reason']}"
        )


@models_app.command("list")
def list_models(
    server: ServerOption = None, token: TokenOption = None, as_json: JsonOption = False
) -> None:
    """Models you may see."""
    with reported_errors(), remote_client(server, token) as client:
        models = client.list_models()
    if as_json:
        print_json(models)
    else:
        print_table(
            models, ["id", "name", "version", "training_flop", "in_scope", "created_at"], "Models"
        )


def _find_model(client: Client, name: str, version: str | None) -> dict[str, Any]:
    found = list(client.paginate("/models", name=name, version=version))
    if not found:
        which = f"{name} version {version}" if version else name
        fail(
            f"no model {which} is registered: create it with `predeploy models create`",
            field="model",
        )
    if len(found) > 1:
        versions = ", ".join(sorted(m["version"] for m in found))
        fail(f"model {name} has several versions ({versions}): pick one", field="model-version")
    return found[0]


def _upload(client: Client, submission_id: str, kind: AttachmentKind, path: Path) -> None:
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if path.suffix.lower() in (".md", ".markdown"):
        media_type = "text/markdown"
    client.request(
        "POST",
        f"/submissions/{submission_id}/attachments",
        params={"kind": kind.value, "filename": path.name},
        content=path.read_bytes(),
        headers={"Content-Type": media_type},
    )


def _summary(sub: dict[str, Any]) -> None:
    console.print(
        f"submission {sub['id']}: {sub['model_name']} {sub['model_version']}, "
        f"state [bold]{sub['state']}[/bold]"
    )
    left = "" if sub["days_remaining"] is None else f" ({sub['days_remaining']} days left)"
    console.print(
        f"  release {sub['planned_release_at']}; window {sub['window_state']} from "
        f"{sub['window_start']}; report due {sub['report_due_at']}{left}",
        highlight=False,
    )
    console.print(f"  {'in' if sub['in_scope'] else 'out of'} scope: {sub['scope_reason']}")
    for warning in sub["warnings"]:
        console.print(f"  [yellow]warning:[/yellow] {warning}", highlight=False)


def submit(
    model: Annotated[str, typer.Option("--model", help="Name of a registered model.")],
    release: Annotated[
        str, typer.Option("--release", help="Planned public release, with a timezone.")
    ],
    model_version: Annotated[
        str | None, typer.Option("--model-version", help="Needed if the model has several.")
    ] = None,
    variant: Annotated[str, typer.Option("--variant", help="Access variant label.")] = "production",
    access_model: Annotated[
        str | None,
        typer.Option("--access-model", help="Inspect model string, e.g. openai-api/acme/m1."),
    ] = None,
    base_url: Annotated[str | None, typer.Option("--base-url", help="The model's API.")] = None,
    api_key_env: Annotated[
        str | None,
        typer.Option("--api-key-env", help="Read the model's API key from this env var."),
    ] = None,
    access_granted: Annotated[
        str | None, typer.Option(help="When access starts (default: now).")
    ] = None,
    access_expires: Annotated[
        str | None, typer.Option(help="When access ends (default: the release).")
    ] = None,
    model_card: Annotated[Path | None, typer.Option(exists=True, dir_okay=False)] = None,
    system_card: Annotated[Path | None, typer.Option(exists=True, dir_okay=False)] = None,
    draft: Annotated[bool, typer.Option("--draft", help="Save without submitting.")] = False,
    server: ServerOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Submit a model for pre-release testing (the API key comes from an env var, never argv)."""
    if access_model is None:
        fail(
            "give --access-model (the Inspect model string the agency will test)",
            field="access-model",
        )
    api_key = read_secret(api_key_env, False, "api-key")
    times = {
        "planned_release_at": _when(release, "release"),
        "access_granted_at": _when(access_granted, "access-granted"),
        "access_expires_at": _when(access_expires, "access-expires"),
    }
    with reported_errors():
        access = AccessVariantIn.model_validate(
            {"label": variant, "model": access_model, "base_url": base_url, "api_key": api_key}
        )
        with remote_client(server, token) as client:
            found = _find_model(client, model, model_version)
            body = SubmissionCreate(
                model_id=found["id"],
                access_variants=[access],
                **{k: v for k, v in times.items() if v is not None},
            )
            payload = body.model_dump(mode="json", exclude_none=True)
            # The dump masks secrets; the key itself goes only into the request body.
            payload["access_variants"] = [
                access.model_dump(mode="json", exclude_none=True, exclude={"api_key"})
                | ({"api_key": api_key} if api_key is not None else {})
            ]
            sub = client.create_submission(**payload)
            for kind, path in (
                (AttachmentKind.MODEL_CARD, model_card),
                (AttachmentKind.SYSTEM_CARD, system_card),
            ):
                if path is not None:
                    _upload(client, sub["id"], kind, path)
            if not draft:
                sub = client.transition(sub["id"], "submitted", "submitted from the CLI")
            else:
                sub = client.get_submission(sub["id"])
    if as_json:
        print_json(sub)
    else:
        _summary(sub)


@submissions_app.command("list")
def list_submissions(
    state: Annotated[str | None, typer.Option(help="Only this state.")] = None,
    org: Annotated[str | None, typer.Option(help="Only this organisation's (agency).")] = None,
    server: ServerOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Submissions you may see, newest first."""
    with reported_errors(), remote_client(server, token) as client:
        subs = client.list_submissions(state=state, org=org)
    if as_json:
        print_json(subs)
    else:
        _table(subs, "Submissions")


def _table(subs: list[dict[str, Any]], title: str) -> None:
    rows = [{**s, "model": f"{s['model_name']} {s['model_version']}"} for s in subs]
    columns = ["id", "model", "state", "window_state", "report_due_at", "days_remaining"]
    print_table(rows, columns, title)


@submissions_app.command("show")
def show(
    submission_id: str,
    server: ServerOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """One submission, with its access variants and history."""
    with reported_errors(), remote_client(server, token) as client:
        sub = client.get_submission(submission_id)
    if as_json:
        print_json(sub)
        return
    _summary(sub)
    print_table(
        sub["access_variants"],
        ["label", "model", "base_url", "has_api_key", "api_key_destroyed_at"],
        "Access variants",
    )
    print_table(
        sub["history"], ["created_at", "from_state", "to_state", "party", "reason"], "History"
    )


@submissions_app.command("transition")
def transition(
    submission_id: str,
    to: Annotated[str, typer.Argument(help="Target state, e.g. submitted, accepted, withdrawn.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the history).")] = "",
    server: ServerOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Move a submission to another state."""
    with reported_errors(), remote_client(server, token) as client:
        sub = client.transition(submission_id, to, reason)
    if as_json:
        print_json(sub)
    else:
        _summary(sub)


@submissions_app.command("reschedule")
def reschedule(
    submission_id: str,
    release: Annotated[str, typer.Option("--release", help="New planned release.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the audit log).")] = "",
    server: ServerOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Move the planned release (an open window stays open)."""
    when = _when(release, "release")
    with reported_errors(), remote_client(server, token) as client:
        sub = client.update_submission(submission_id, planned_release_at=when, reason=reason)
    if as_json:
        print_json(sub)
    else:
        _summary(sub)


@submissions_app.command("due")
def due(
    server: ServerOption = None, token: TokenOption = None, as_json: JsonOption = False
) -> None:
    """Submissions still owing a report, by time left to the deadline (overdue first)."""
    with reported_errors(), remote_client(server, token) as client:
        subs = client.due_submissions()
    if as_json:
        print_json(subs)
    else:
        _table(subs, "Reports due")
