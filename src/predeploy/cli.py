"""The `predeploy` command, assembled from each area's commands."""

from __future__ import annotations

from typing import Annotated

import typer

from .accounts.cli import admin_app, db_app, orgs_app, tokens_app, users_app
from .audit.cli import audit_app
from .cli_support import console, local_runtime, reported_errors
from .migrate import upgrade
from .notifications.cli import notifications_app, webhooks_app
from .submissions.cli import models_app, submissions_app, submit

app = typer.Typer(
    name="predeploy",
    help="Pre-release security testing of frontier AI models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(admin_app, name="admin")
app.add_typer(db_app, name="db")
app.add_typer(orgs_app, name="orgs")
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")
app.add_typer(audit_app, name="audit")
app.add_typer(notifications_app, name="notifications")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(models_app, name="models")
app.add_typer(submissions_app, name="submissions")
app.command("submit")(submit)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
    workers: Annotated[
        int, typer.Option(help="HTTP worker processes (PostgreSQL only for > 1).")
    ] = 1,
) -> None:
    """Run the API server (migrating the database first)."""
    import uvicorn

    runtime = local_runtime()
    with reported_errors():
        upgrade(runtime.settings.resolved_database_url)
    console.print(f"predeploy serving on http://{host}:{port} (API docs at /api/docs)")
    uvicorn.run(
        "predeploy.server:app",
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        factory=False,
    )


def main() -> None:
    app()
