"""CLI: `predeploy admin bootstrap`, `predeploy orgs ...`, `predeploy users ...`, `predeploy tokens ...`."""

from __future__ import annotations

from typing import Annotated

import typer

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
from ..migrate import upgrade
from . import service
from .actor import Actor
from .schemas import OrgCreate, UserCreate

admin_app = typer.Typer(
    help="Server-side administration (run where the database is).", no_args_is_help=True
)
orgs_app = typer.Typer(help="Organisations.", no_args_is_help=True)
users_app = typer.Typer(help="Users.", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens.", no_args_is_help=True)


@admin_app.command("bootstrap")
def bootstrap(
    org: Annotated[str, typer.Option(help="Name of the agency organisation.")],
    email: Annotated[str, typer.Option(help="Email of its first admin.")],
    password_env: Annotated[
        str | None, typer.Option(help="Read the admin's password from this env var.")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option(help="Read the admin's password from standard input.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Create the agency organisation, its first admin and an admin token (printed once)."""
    password = read_secret(password_env, password_stdin, "password")
    runtime = local_runtime()
    with reported_errors():
        upgrade(runtime.settings.resolved_database_url)
        with runtime.unit(Actor.system("admin bootstrap")) as ctx:
            result = service.bootstrap(ctx, org, email, password)
        # The agency's report-signing key pair is made now, not at the first report, so that its
        # public key can be published (`predeploy keys export-public`) before anything is signed.
        key_id = runtime.signing_key.key_id
    if as_json:
        print_json(result)
    else:
        console.print(
            f"agency org [bold]{org}[/bold] ({result.org_id}), admin {email} ({result.user_id})"
        )
        console.print(
            f"agency signing key {key_id} ({runtime.settings.signing_key_path}, mode 0600)",
            highlight=False,
        )
        console.print("admin token (shown once, store it now):")
        console.print(result.token, highlight=False, soft_wrap=True)


@users_app.command("set-password")
def set_password(
    email: str,
    password_env: Annotated[
        str | None, typer.Option(help="Read the password from this env var.")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option(help="Read the password from standard input.")
    ] = False,
) -> None:
    """Set a user's password (server-side)."""
    password = read_secret(password_env, password_stdin, "password")
    if password is None:
        raise typer.BadParameter("give --password-env VAR or --password-stdin")
    runtime = local_runtime()
    with reported_errors(), runtime.unit(Actor.system("users set-password")) as ctx:
        service.set_password(ctx, email, password)
    console.print(f"password set for {email}")


@users_app.command("create")
def create_user(
    email: str,
    org_id: Annotated[str, typer.Option("--org-id")],
    role: Annotated[list[str], typer.Option("--role", help="Repeat for several roles.")],
    server: ServerOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add a user to an organisation."""
    with reported_errors():
        body = UserCreate(email=email, org_id=org_id, roles=role)
        with remote_client(server, token) as client:
            user = client.create_user(body.email, body.org_id, [r.value for r in body.roles])
    if as_json:
        print_json(user)
    else:
        console.print(f"user {user['email']} ({user['id']})")


@orgs_app.command("create")
def create_org(
    name: str,
    capacity: Annotated[
        list[str], typer.Option("--capacity", help="agency, developer, vendor, participant.")
    ],
    server: ServerOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create an organisation (agency admins)."""
    with reported_errors():
        body = OrgCreate(name=name, capacities=capacity)
        with remote_client(server, token) as client:
            org = client.create_org(body.name, [c.value for c in body.capacities])
    if as_json:
        print_json(org)
    else:
        console.print(f"organisation {org['name']} ({org['id']})")


@orgs_app.command("list")
def list_orgs(
    server: ServerOption = None, token: TokenOption = None, as_json: JsonOption = False
) -> None:
    """Organisations you may see."""
    with reported_errors(), remote_client(server, token) as client:
        orgs = client.list_orgs()
    if as_json:
        print_json(orgs)
    else:
        rows = [{**o, "capacities": ", ".join(o["capacities"])} for o in orgs]
        print_table(rows, ["id", "name", "capacities", "created_at"], title="Organisations")


@tokens_app.command("create")
def create_token(
    name: Annotated[str, typer.Option()] = "",
    scope: Annotated[list[str] | None, typer.Option("--scope", help="read, write, admin.")] = None,
    expires_in_days: Annotated[int | None, typer.Option()] = None,
    user_id: Annotated[str | None, typer.Option()] = None,
    server: ServerOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Issue an API token; the secret is printed once."""
    fields = {
        "name": name,
        "scopes": scope or None,
        "expires_in_days": expires_in_days,
        "user_id": user_id,
    }
    with reported_errors(), remote_client(server, token) as client:
        issued = client.issue_token(**{k: v for k, v in fields.items() if v is not None})
    if as_json:
        print_json(issued)
    else:
        console.print(issued["token"], highlight=False, soft_wrap=True)


@tokens_app.command("list")
def list_tokens(
    server: ServerOption = None, token: TokenOption = None, as_json: JsonOption = False
) -> None:
    """Your tokens (an org admin sees every token of the org); secrets are never shown."""
    with reported_errors(), remote_client(server, token) as client:
        tokens = client.list_tokens()
    if as_json:
        print_json(tokens)
    else:
        rows = [{**t, "scopes": ", ".join(t["scopes"])} for t in tokens]
        columns = ["id", "name", "prefix", "scopes", "expires_at", "revoked_at"]
        print_table(rows, columns, title="API tokens")


@tokens_app.command("revoke")
def revoke_token(token_id: str, server: ServerOption = None, token: TokenOption = None) -> None:
    """Revoke a token."""
    with reported_errors(), remote_client(server, token) as client:
        client.revoke_token(token_id)
    console.print(f"token {token_id} revoked")


db_app = typer.Typer(help="Database schema.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration to the configured database."""
    runtime = local_runtime()
    with reported_errors():
        upgrade(runtime.settings.resolved_database_url)
    console.print("database is up to date")
