"""CLI: `predeploy campaigns ...` (remote, via the SDK) and `predeploy worker` (where the database is)."""

from __future__ import annotations

import signal
import time
from datetime import datetime
from types import FrameType
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

from ..cli_support import (
    JsonOption,
    ServerOption,
    TokenOption,
    console,
    fail,
    local_runtime,
    print_json,
    print_table,
    remote_client,
    reported_errors,
)
from ..migrate import upgrade

campaigns_app = typer.Typer(
    help="Campaigns: test plans run against submissions.", no_args_is_help=True
)

FINAL_STATES = frozenset({"completed", "failed", "cancelled"})


def _counts(campaign: dict[str, Any]) -> str:
    progress = campaign["progress"]
    total = progress["samples_total"]
    errors = ", ".join(f"{k} {v}" for k, v in sorted(progress["errors_by_class"].items()))
    return (
        f"samples {progress['samples_done']}/{total if total is not None else '?'}"
        f", jobs {progress['jobs_done']}/{progress['jobs_total']}"
        f", running {progress['samples_running']}, re-runs {progress['reruns']}"
        + (f", errors: {errors}" if errors else "")
    )


def _show(campaign: dict[str, Any]) -> None:
    progress = campaign["progress"]
    console.print(
        f"campaign {campaign['id']}: {campaign['state']}"
        + (f" ({campaign['reason']})" if campaign["reason"] else "")
        + f" - plan {campaign['plan_name']}@{campaign['plan_version']}"
        + (" [bold red]AT RISK[/bold red]" if campaign["at_risk"] else "")
    )
    if campaign.get("waiting_for_window"):
        console.print(f"waiting for the testing window to open at {campaign['waiting_for_window']}")
    console.print(_counts(campaign))
    if progress["eta"]:
        console.print(f"ETA {progress['eta']} ({progress['eta_seconds']:.0f} s)")
    if progress["retried_failures"]:
        retried = ", ".join(f"{k} {v}" for k, v in sorted(progress["retried_failures"].items()))
        console.print(f"model-call failures retried: {retried}")
    rows = [
        {
            "item": job["item_index"],
            "task": job["task"],
            "model": job["model_label"],
            "state": job["state"],
            "samples": f"{job['samples_done']}/{job['samples_total'] or '?'}",
            "errors": job["samples_errored"],
            "attempts": job["attempts"],
            "re-runs": job["reruns"],
        }
        for job in campaign["jobs"]
    ]
    print_table(
        rows, ["item", "task", "model", "state", "samples", "errors", "attempts", "re-runs"]
    )


@campaigns_app.command("start")
def start(
    submission: Annotated[str, typer.Option("--submission", help="Submission id.")],
    plan: Annotated[str, typer.Option("--plan", help="Plan NAME, NAME@VERSION or id.")],
    server: ServerOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Queue a test plan against an accepted submission (runs inside its window)."""
    with reported_errors(), remote_client(server, token) as client:
        campaign = client.start_campaign(submission, plan)
    if as_json:
        print_json(campaign)
    else:
        _show(campaign)


@campaigns_app.command("list")
def list_campaigns(
    submission: Annotated[str | None, typer.Option(help="Only this submission's.")] = None,
    state: Annotated[str | None, typer.Option(help="queued, running, completed, ...")] = None,
    server: ServerOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Campaigns you may see, newest first."""
    with reported_errors(), remote_client(server, token) as client:
        campaigns = client.list_campaigns(submission=submission, state=state)
    if as_json:
        print_json(campaigns)
        return
    rows = [
        {
            "id": c["id"],
            "submission": c["submission_id"],
            "plan": f"{c['plan_name']}@{c['plan_version']}",
            "state": c["state"],
            "done": f"{c['progress']['fraction_done']:.0%}",
            "at risk": "yes" if c["at_risk"] else "",
        }
        for c in campaigns
    ]
    print_table(rows, ["id", "submission", "plan", "state", "done", "at risk"])


@campaigns_app.command("show")
def show(
    campaign_id: str,
    server: ServerOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """A campaign's state, jobs, counts, errors and ETA."""
    with reported_errors(), remote_client(server, token) as client:
        campaign = client.get_campaign(campaign_id)
    if as_json:
        print_json(campaign)
    else:
        _show(campaign)


@campaigns_app.command("watch")
def watch(
    campaign_id: str,
    interval: Annotated[float, typer.Option(min=0.2, help="Seconds between updates.")] = 2.0,
    server: ServerOption = None,
    token: TokenOption = None,
) -> None:
    """Follow a campaign with a progress bar until it ends (Ctrl-C stops watching, not the run)."""
    with reported_errors(), remote_client(server, token) as client:
        campaign = client.get_campaign(campaign_id)
        columns = (
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[counts]}"),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=console, transient=False) as bar:
            task = bar.add_task(campaign["state"], total=None, counts="")
            while True:
                progress = campaign["progress"]
                bar.update(
                    task,
                    description=campaign["state"],
                    total=progress["samples_total"],
                    completed=progress["samples_done"],
                    counts=_counts(campaign),
                )
                if campaign["state"] in FINAL_STATES:
                    break
                time.sleep(interval)
                campaign = client.get_campaign(campaign_id)
    console.print(
        f"campaign {campaign_id} {campaign['state']}"
        + (f": {campaign['reason']}" if campaign["reason"] else "")
    )
    if campaign["state"] != "completed":
        raise typer.Exit(1)


@campaigns_app.command("cancel")
def cancel(
    campaign_id: str,
    reason: Annotated[str, typer.Option(help="Why (kept in the audit log).")] = "",
    server: ServerOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Cancel a queued or running campaign; its running jobs stop calling the model at once."""
    with reported_errors(), remote_client(server, token) as client:
        campaign = client.cancel_campaign(campaign_id, reason)
    if as_json:
        print_json(campaign)
    else:
        console.print(f"campaign {campaign['id']} cancelled")


@campaigns_app.command("results")
def results(
    campaign_id: str,
    model: Annotated[str | None, typer.Option(help="Only this model label.")] = None,
    server: ServerOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Sample results: one row per sample and epoch (agency staff)."""
    with reported_errors(), remote_client(server, token) as client:
        rows = client.campaign_results(campaign_id, model)
    if as_json:
        print_json(rows)
        return
    columns = ["model_label", "task", "sample_id", "epoch", "level", "score", "error_class"]
    print_table(rows, columns)


def worker(
    once: Annotated[bool, typer.Option("--once", help="Run at most one job, then exit.")] = False,
    exit_when_idle: Annotated[
        bool, typer.Option("--exit-when-idle", help="Exit when no job is runnable.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Claim campaign jobs and run them (migrating the database first); stop with Ctrl-C or TERM."""
    from .worker import Worker

    runtime = local_runtime()
    with reported_errors():
        upgrade(runtime.settings.resolved_database_url)
        instance = Worker(runtime)

        def stop(signum: int, _frame: FrameType | None) -> None:
            instance.stop.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        if once:
            with instance.exclusive():
                try:
                    outcomes = [instance.run_once()]
                finally:
                    instance.close()
        else:
            outcomes = instance.run(exit_when_idle=exit_when_idle)
    if as_json:
        print_json([o.model_dump(mode="json") for o in outcomes])
        return
    for outcome in outcomes:
        when = datetime.now().astimezone().strftime("%H:%M:%S")
        console.print(f"{when} job {outcome.job_id or '-'}: {outcome.outcome} {outcome.message}")
    if any(o.outcome == "failed" for o in outcomes):
        fail("a job failed (see above)")
