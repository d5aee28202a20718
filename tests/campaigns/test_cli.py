"""`predeploy campaigns ...` through the SDK, and `predeploy worker` on the test database."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

import predeploy.cli_support
import predeploy.serving
from predeploy.campaigns.worker import Worker
from predeploy.cli import app
from predeploy.client import Client
from predeploy.config import Settings
from predeploy.runtime import Runtime
from tests.campaigns.conftest import Lab
from tests.conftest import Caller

Run = Callable[..., Result]


@pytest.fixture
def run(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> Run:
    transport = lab.world.api.http._transport

    def client(base_url: str, token: str | None = None) -> Client:
        return Client(base_url, token, transport=transport)

    monkeypatch.setattr(predeploy.cli_support, "Client", client)
    runner = CliRunner()

    def invoke(caller: Caller | None, *args: str) -> Result:
        settings = lab.world.api.runtime.settings
        env = {
            "PREDEPLOY_SERVER": "http://testserver",
            "PREDEPLOY_TOKEN": caller.token if caller else "",
            "PREDEPLOY_DATA_DIR": str(settings.data_dir),
            "PREDEPLOY_DATABASE_URL": settings.resolved_database_url,
            "COLUMNS": "200",
        }
        return runner.invoke(app, list(args), env=env)

    return invoke


def _json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_start_work_show_results_and_watch(lab: Lab, run: Run) -> None:
    sub = lab.submission()
    lab.plan()
    started = _json(run(lab.evaluator, "campaigns", "start", "--submission", sub["id"],
                        "--plan", "quick", "--json"))  # fmt: skip
    assert started["state"] == "queued"
    listed = _json(run(lab.evaluator, "campaigns", "list", "--json"))
    assert [c["id"] for c in listed] == [started["id"]]

    outcomes = _json(run(None, "worker", "--once", "--json"))
    assert [o["outcome"] for o in outcomes] == ["succeeded"]
    idle = _json(run(None, "worker", "--exit-when-idle", "--json"))
    assert idle == []

    shown = run(lab.evaluator, "campaigns", "show", started["id"])
    assert shown.exit_code == 0, shown.output
    assert "completed" in shown.stdout
    assert "samples 1/1" in shown.stdout
    rows = _json(run(lab.evaluator, "campaigns", "results", started["id"], "--json"))
    assert [(r["family"], r["score"]) for r in rows] == [("crypto", 1.0)]
    watched = run(lab.evaluator, "campaigns", "watch", started["id"], "--interval", "0.2")
    assert watched.exit_code == 0, watched.output
    assert f"campaign {started['id']} completed" in watched.stdout


def test_errors_name_the_problem(lab: Lab, run: Run) -> None:
    sub = lab.submission()
    missing = run(lab.evaluator, "campaigns", "start", "--submission", sub["id"], "--plan", "nope")
    assert missing.exit_code == 1
    assert "field: plan" in missing.output
    refused = run(lab.world.submitter, "campaigns", "start", "--submission", sub["id"],
                  "--plan", "nope")  # fmt: skip
    assert refused.exit_code == 1
    assert "agency" in refused.output
    lab.plan()
    campaign = lab.start(sub["id"])
    cancelled = run(lab.evaluator, "campaigns", "cancel", campaign["id"], "--reason", "test")
    assert cancelled.exit_code == 0, cancelled.output
    again = run(lab.evaluator, "campaigns", "cancel", campaign["id"])
    assert again.exit_code == 1
    assert "already cancelled" in again.output
    watched = run(lab.evaluator, "campaigns", "watch", campaign["id"])
    assert watched.exit_code == 1
    assert "cancelled" in watched.stdout


def test_a_second_worker_on_sqlite_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLite whatever backend the suite runs on: PostgreSQL runs any number of workers.
    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'w.db'}")
    monkeypatch.setenv("PREDEPLOY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PREDEPLOY_DATABASE_URL", settings.resolved_database_url)
    with Worker(Runtime(settings=settings)).exclusive():
        second = CliRunner().invoke(app, ["worker", "--once"])
    assert second.exit_code == 1
    assert "another worker is already running" in second.output


def test_serve_with_worker_runs_one_in_the_server_process(
    lab: Lab, run: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    started: list[str] = []
    monkeypatch.setattr(predeploy.serving, "run", lambda *args, **kwargs: started.append("http"))
    monkeypatch.setattr(
        "predeploy.campaigns.worker.Worker.start_thread", lambda self: started.append("worker")
    )
    assert run(None, "serve", "--no-scheduler", "--with-worker").exit_code == 0
    assert started == ["worker", "http"]
    started.clear()
    assert run(None, "serve", "--no-scheduler").exit_code == 0
    assert started == ["http"]
