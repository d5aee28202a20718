"""The CLI against the app, through the SDK (the HTTP transport is the test client's)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

import predeploy.cli_support
from predeploy.cli import app
from predeploy.client import Client
from tests.conftest import Caller
from tests.submissions.conftest import API_KEY, RELEASE, World, iso

Run = Callable[..., Result]


@pytest.fixture
def run(world: World, monkeypatch: pytest.MonkeyPatch) -> Run:
    transport = world.api.http._transport

    def client(base_url: str, token: str | None = None) -> Client:
        return Client(base_url, token, transport=transport)

    monkeypatch.setattr(predeploy.cli_support, "Client", client)
    runner = CliRunner()

    def invoke(caller: Caller, *args: str, env: dict[str, str] | None = None) -> Result:
        environment = {"PREDEPLOY_SERVER": "http://testserver", "PREDEPLOY_TOKEN": caller.token}
        return runner.invoke(app, list(args), env={**environment, **(env or {})})

    return invoke


def _json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_register_submit_accept_and_list(world: World, run: Run, tmp_path: Path) -> None:
    model = _json(
        run(world.submitter, "models", "create", "acme-m1", "--version", "2026-11",
            "--training-flop", "2e26", "--modality", "text", "--json")
    )  # fmt: skip
    assert model["in_scope"] is True
    assert [m["id"] for m in _json(run(world.submitter, "models", "list", "--json"))] == [
        model["id"]
    ]
    card = tmp_path / "card.md"
    card.write_text("# Acme M1\n")
    result = run(
        world.submitter, "submit", "--model", "acme-m1", "--release", iso(RELEASE),
        "--variant", "production", "--access-model", "openai-api/acme/m1",
        "--base-url", "https://api.acme.example/v1", "--api-key-env", "ACME_KEY",
        "--model-card", str(card), "--json",
        env={"ACME_KEY": API_KEY},
    )  # fmt: skip
    sub = _json(result)
    assert API_KEY not in result.output
    assert sub["state"] == "submitted"
    assert sub["access_variants"][0]["has_api_key"] is True
    assert [a["kind"] for a in sub["attachments"]] == ["model_card"]

    accepted = _json(
        run(world.evaluator, "submissions", "transition", sub["id"], "accepted", "--json")
    )
    assert accepted["state"] == "accepted"
    due = _json(run(world.evaluator, "submissions", "due", "--json"))
    assert [s["id"] for s in due] == [sub["id"]]
    listed = _json(run(world.submitter, "submissions", "list", "--state", "accepted", "--json"))
    assert [s["id"] for s in listed] == [sub["id"]]
    shown = run(world.submitter, "submissions", "show", sub["id"])
    assert shown.exit_code == 0 and "accepted" in shown.stdout
    moved = _json(
        run(world.submitter, "submissions", "reschedule", sub["id"],
            "--release", "2027-01-15T00:00:00+00:00", "--json")
    )  # fmt: skip
    assert moved["report_due_at"] == "2027-01-13T00:00:00Z"
    assert run(world.other_submitter, "submissions", "show", sub["id"]).exit_code != 0


def test_errors_name_the_field_and_change_nothing(world: World, run: Run) -> None:
    world.model(name="acme-m1", version="a")
    world.model(name="acme-m1", version="b")
    base = ["submit", "--model", "acme-m1", "--access-model", "openai-api/acme/m1"]
    cases = [
        ([*base, "--model-version", "a", "--release", "2026-12-20T00:00:00"], "release", "timezone"),
        ([*base, "--release", iso(RELEASE)], "model-version", "several versions"),
        (["submit", "--model", "nope", "--access-model", "a/b", "--release", iso(RELEASE)],
         "model", "no model"),
        ([*base, "--model-version", "a", "--release", iso(RELEASE), "--api-key-env", "UNSET_X"],
         "api-key-env", "UNSET_X"),
        ([*base, "--model-version", "a", "--release", "2025-01-01T00:00:00Z"],
         "planned_release_at", "in the past"),
        ([*base, "--model-version", "a", "--release", iso(RELEASE), "--base-url", "file:///x"],
         "base_url", "http"),
    ]  # fmt: skip
    for args, field, words in cases:
        result = run(world.submitter, *args)
        assert result.exit_code != 0, args
        assert f"field: {field}" in result.stderr, (args, result.stderr)
        assert words in result.stderr, (args, result.stderr)
    assert _json(run(world.submitter, "submissions", "list", "--json")) == []


def test_illegal_transition_lists_the_allowed_ones(world: World, run: Run) -> None:
    sub = world.submission()
    result = run(world.evaluator, "submissions", "transition", sub["id"], "closed")
    assert result.exit_code != 0
    assert "submitted (by the developer)" in result.stderr
    assert "409" in result.stderr
