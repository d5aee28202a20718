"""CLI: `predeploy notifications deliver` (server-side) and `predeploy webhooks ...` (remote)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer

from ..accounts.actor import Actor
from ..cli_support import (
    JsonOption,
    ServerOption,
    TokenOption,
    console,
    local_runtime,
    print_json,
    print_table,
    read_secret,
    remote_client,
    reported_errors,
)
from .delivery import deliver_due
from .schemas import AllowedHostCreate, WebhookCreate

notifications_app = typer.Typer(help="Event outbox and webhook delivery.", no_args_is_help=True)
webhooks_app = typer.Typer(
    help="Webhook subscriptions and the host allowlist.", no_args_is_help=True
)


@notifications_app.command("deliver")
def deliver(
    limit: Annotated[int, typer.Option(min=1, help="Most deliveries to attempt.")] = 100,
    as_json: JsonOption = False,
) -> None:
    """Send the webhook deliveries that are due, once (server-side; run it from a timer)."""
    runtime = local_runtime()
    with reported_errors(), runtime.unit(Actor.system("notifications deliver")) as ctx:
        report = deliver_due(ctx, limit=limit)
    if as_json:
        print_json(asdict(report))
    else:
        console.print(
            f"delivered {report.delivered}, retrying {report.retrying}, failed {report.failed}"
        )


@webhooks_app.command("allow")
def allow(
    host: Annotated[str, typer.Argument(help="host, host:port or *.domain")],
    note: Annotated[str, typer.Option(help="Why this host is allowed.")] = "",
    server: ServerOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Allow webhooks to a host (agency admins)."""
    with reported_errors():
        body = AllowedHostCreate(host=host, note=note)
        with remote_client(server, token) as client:
            entry = client.request("POST", "/webhooks/allowlist", json=body.model_dump())
    if as_json:
        print_json(entry)
    else:
        console.print(f"allowed {entry['host']}")


@webhooks_app.command("disallow")
def disallow(host: str, server: ServerOption = None, token: TokenOption = None) -> None:
    """Remove a host from the allowlist (agency admins)."""
    with reported_errors(), remote_client(server, token) as client:
        entry = client.request("DELETE", f"/webhooks/allowlist/{host}")
    console.print(f"removed {entry['host']}")


@webhooks_app.command("add")
def add(
    url: str,
    event: Annotated[
        list[str],
        typer.Option("--event", help="Event kind, prefix.* or *; repeat for several."),
    ],
    secret_env: Annotated[
        str | None, typer.Option(help="Read the signing secret from this env var.")
    ] = None,
    secret_stdin: Annotated[
        bool, typer.Option(help="Read the signing secret from standard input.")
    ] = False,
    server: ServerOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Subscribe your organisation to events (org admins); a generated secret is printed once."""
    secret = read_secret(secret_env, secret_stdin, "secret")
    with reported_errors():
        body = WebhookCreate(url=url, events=event, secret=secret)
        with remote_client(server, token) as client:
            created = client.request("POST", "/webhooks", json=body.model_dump(exclude_none=True))
    if as_json:
        print_json(created)
        return
    console.print(f"webhook {created['id']} -> {created['url']}")
    if secret is None:
        console.print("signing secret (shown once, store it now):")
        console.print(created["secret"], highlight=False, soft_wrap=True)


@webhooks_app.command("list")
def list_webhooks(
    server: ServerOption = None, token: TokenOption = None, as_json: JsonOption = False
) -> None:
    """Your organisation's webhooks."""
    with reported_errors(), remote_client(server, token) as client:
        hooks = list(client.paginate("/webhooks"))
    if as_json:
        print_json(hooks)
    else:
        rows = [{**h, "events": ", ".join(h["events"])} for h in hooks]
        print_table(rows, ["id", "url", "events", "active", "created_at"], title="Webhooks")
