"""The `predeploy` command, assembled from each area's commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .accounts.cli import admin_app, db_app, orgs_app, tokens_app, users_app
from .audit.cli import audit_app
from .backup_cli import backup_app
from .campaigns.cli import campaigns_app, worker
from .campaigns.logs_cli import logs_app
from .campaigns.plans_cli import plans_app
from .clearinghouse.advisories_cli import advisories_app
from .clearinghouse.cases_cli import cases_app
from .clearinghouse.cli import vulns_app
from .cli_support import JsonOption, console, fail, local_runtime, print_json, reported_errors
from .defense.cli import check
from .identity.cli import fingerprint_app
from .interop.cli import export_advisory, import_advisories
from .keys_cli import keys_app
from .migrate import upgrade
from .notifications.cli import notifications_app, webhooks_app
from .reports.cli import report_app
from .runtime import Runtime
from .scheduler import Scheduler
from .submissions.cli import models_app, submissions_app, submit
from .suite.cli import suite_app

app = typer.Typer(
    name="predeploy",
    help="Pre-release security testing of frontier AI models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(admin_app, name="admin")
app.add_typer(backup_app, name="backup")
app.add_typer(db_app, name="db")
app.add_typer(orgs_app, name="orgs")
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")
app.add_typer(audit_app, name="audit")
app.add_typer(keys_app, name="keys")
app.add_typer(notifications_app, name="notifications")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(models_app, name="models")
app.add_typer(submissions_app, name="submissions")
app.command("submit")(submit)
app.add_typer(suite_app, name="suite")
app.add_typer(plans_app, name="plans")
app.add_typer(campaigns_app, name="campaigns")
app.add_typer(logs_app, name="logs")
app.command("worker")(worker)
app.add_typer(report_app, name="report")
app.add_typer(vulns_app, name="vulns")
app.add_typer(cases_app, name="cases")
advisories_app.command("import")(import_advisories)
advisories_app.command("export")(export_advisory)
app.add_typer(advisories_app, name="advisories")
app.command("check")(check)
app.add_typer(fingerprint_app, name="fingerprint")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
    workers: Annotated[
        int, typer.Option(help="HTTP worker processes (PostgreSQL only for > 1).")
    ] = 1,
    scheduler: Annotated[
        bool,
        typer.Option(help="Run the periodic jobs (checkpoints, deadlines, key expiry, webhooks)."),
    ] = True,
    with_worker: Annotated[
        bool,
        typer.Option(
            "--with-worker", help="Also run one campaign worker in this process (embedded default)."
        ),
    ] = False,
) -> None:
    """Run the API server and the web pages (migrating the database first)."""
    from . import serving

    runtime = local_runtime()
    if workers > 1 and runtime.settings.resolved_database_url.startswith("sqlite"):
        fail("several workers need PostgreSQL: set PREDEPLOY_DATABASE_URL", field="workers")
    with reported_errors():
        upgrade(runtime.settings.resolved_database_url)
    if scheduler:
        Scheduler(runtime).start_thread()
    if with_worker:
        from .campaigns.worker import Worker

        Worker(runtime).start_thread()
    console.print(
        f"predeploy serving on http://{host}:{port}: sign in at /login, API docs at /api/docs"
    )
    serving.run("predeploy.server:app", host=host, port=port, workers=workers)


@app.command()
def tick(as_json: JsonOption = False) -> None:
    """Run every periodic job once (for cron, or a deployment that schedules them itself)."""
    runtime = local_runtime()
    with reported_errors():
        upgrade(runtime.settings.resolved_database_url)
    outcomes = Scheduler(runtime).run_due(force=True)
    if as_json:
        print_json(outcomes)
    else:
        for job, outcome in outcomes.items():
            console.print(f"{job}: {outcome}")
    if any(outcome != "ok" for outcome in outcomes.values()):
        raise typer.Exit(1)


@app.command()
def demo(
    data_dir: Annotated[
        Path | None, typer.Option(help="Data dir (default: PREDEPLOY_DATA_DIR or ./.predeploy).")
    ] = None,
    quick: Annotated[
        bool,
        typer.Option("--quick", help="A smaller test plan: suite level 1, one seed, one epoch."),
    ] = False,
    access_model: Annotated[
        str | None,
        typer.Option(
            "--access-model",
            metavar="INSPECT_MODEL",
            help="Test this Inspect model (e.g. openai-api/lab/model-x) instead of the scripted "
            "baselines.",
        ),
    ] = None,
    base_url: Annotated[
        str | None, typer.Option("--base-url", metavar="URL", help="The model's base URL.")
    ] = None,
    api_key_env: Annotated[
        str | None,
        typer.Option(
            "--api-key-env",
            metavar="VAR",
            help="Environment variable holding the model's API key (never an argument).",
        ),
    ] = None,
    osv: Annotated[
        Path | None,
        typer.Option(
            "--osv",
            metavar="PATH",
            help="OSV records (folder, file or zip) to import for the SBOM check "
            "(default: ../shared/data/osv-pypa if it exists).",
        ),
    ] = None,
    serve: Annotated[
        bool,
        typer.Option(
            "--serve",
            help="Afterwards keep the web pages up (with a worker) and print the demo logins.",
        ),
    ] = False,
    port: Annotated[
        int, typer.Option(min=1, max=65535, help="Port of the web pages with --serve.")
    ] = 8000,
) -> None:
    """Run the main job end to end on the embedded default (SQLite in the data dir): submit a
    model, test it in the sandbox, issue and verify its signed report; then exit, or with
    --serve keep the web pages up on 127.0.0.1."""
    from .config import Settings
    from .demo import DemoOptions, run_demo

    if access_model is None and (base_url or api_key_env):
        fail("--base-url and --api-key-env go with --access-model", field="access_model")
    settings = Settings(data_dir=data_dir) if data_dir else Settings()
    options = DemoOptions(
        quick=quick,
        access_model=access_model,
        base_url=base_url,
        api_key_env=api_key_env,
        osv=osv,
    )
    runtime = Runtime(settings=settings)
    with reported_errors():
        result = run_demo(runtime, console, options)
    if not result.chain_ok or result.leaks:
        fail("the demo's own checks failed (see the summary above)")
    if serve:
        _serve_demo(runtime, port)


@app.command()
def selftest(
    kill_seed: Annotated[
        int | None,
        typer.Option(
            help="Replay the moments workers are killed at (a failed run's summary shows it).",
            min=0,
        ),
    ] = None,
) -> None:
    """Check this deployment end to end: the quick demo (campaign in the sandbox, signed report,
    clearinghouse, SBOM check, audit chain, secrets scan), an agent that tries to escape the
    sandbox, a model endpoint failing 30% of calls and workers killed mid-campaign. Refuses a
    database that holds real data; exits 1 if a check fails."""
    from rich.table import Table

    from .selftest import run_selftest

    runtime = local_runtime()
    with reported_errors():
        result = run_selftest(runtime, console, kill_seed)
    table = Table(title="predeploy selftest")
    table.add_column("check")
    table.add_column("result")
    for name, passed in result.checks.items():
        table.add_row(name, "passed" if passed else "FAILED")
    console.print(table)
    if not result.passed:
        fail("the self-test failed (see the table above)")


def _serve_demo(runtime: Runtime, port: int) -> None:
    """Keep the demo's web pages up on 127.0.0.1 with a worker and the periodic jobs, after
    printing the URL and a fresh password for each demo user (shown once, here only)."""
    import uvicorn
    from rich.table import Table

    from .api import create_app
    from .campaigns.worker import Worker
    from .demo import set_demo_passwords

    logins = Table(title="Demo logins (passwords shown once; run the demo again for new ones)")
    for column in ("email", "who", "password"):
        logins.add_column(column, overflow="fold")
    for row in set_demo_passwords(runtime):
        logins.add_row(*row)
    console.print(logins)
    Scheduler(runtime).start_thread()
    Worker(runtime).start_thread()
    console.print(f"predeploy demo serving on http://127.0.0.1:{port}/login (Ctrl-C to stop)")
    config = uvicorn.Config(create_app(runtime), host="127.0.0.1", port=port, log_level="warning")
    uvicorn.Server(config).run()


def main() -> None:
    app()
