"""`predeploy plans ...` against the app, through the SDK (the HTTP transport is the test client's)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import pytest
from typer.testing import CliRunner, Result

import predeploy.cli_support
from predeploy.campaigns.plans_cli import plans_app
from predeploy.client import Client
from predeploy.suite import all_families
from tests.campaigns.test_plans import PLAN, as_yaml, mount_plans, with_item
from tests.conftest import Api, Caller

Run = Callable[..., Result]
EXAMPLE = Path(__file__).parents[2] / "examples" / "plans" / "cyber-default.yaml"


class Recording(httpx2.BaseTransport):
    """Passes requests to the app and keeps them, to show what the CLI sent."""

    def __init__(self, inner: httpx2.BaseTransport) -> None:
        self.inner = inner
        self.sent: list[httpx2.Request] = []

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        self.sent.append(request)
        return self.inner.handle_request(request)


@pytest.fixture
def transport(api: Api) -> Recording:
    mount_plans(api.http.app)  # type: ignore[arg-type]
    return Recording(api.http._transport)


@pytest.fixture
def run(transport: Recording, monkeypatch: pytest.MonkeyPatch) -> Run:
    def client(base_url: str, token: str | None = None) -> Client:
        return Client(base_url, token, transport=transport)

    monkeypatch.setattr(predeploy.cli_support, "Client", client)
    runner = CliRunner()

    def invoke(caller: Caller, *args: str) -> Result:
        env = {
            "PREDEPLOY_SERVER": "http://testserver",
            "PREDEPLOY_TOKEN": caller.token,
            "COLUMNS": "200",  # tables are not wrapped, so their cells can be looked for
        }
        return runner.invoke(plans_app, list(args), env=env)

    return invoke


def _json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _file(tmp_path: Path, name: str, data: dict[str, Any] | str) -> str:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else as_yaml(data))
    return str(path)


def test_import_list_show_export(api: Api, run: Run, tmp_path: Path) -> None:
    admin = api.agency_admin
    plan_file = _file(tmp_path, "plan.yaml", PLAN)
    first = run(admin, "import", plan_file)
    assert first.exit_code == 0, first.output
    assert first.stdout.strip() == "imported cyber-default version 1"
    assert run(admin, "import", plan_file).stdout.strip() == "unchanged: cyber-default version 1"
    changed = _json(run(admin, "import", _file(tmp_path, "v2.yaml", with_item({"epochs": 3})),
                        "--json"))  # fmt: skip
    assert (changed["version"], changed["created"]) == (2, True)

    listed = _json(run(admin, "list", "--json"))
    assert [(p["name"], p["version"]) for p in listed] == [("cyber-default", 2)]
    table = run(admin, "list")
    assert (
        table.exit_code == 0 and "cyber-default" in table.stdout and "6h (declared)" in table.stdout
    )
    assert [p["version"] for p in _json(run(admin, "versions", "cyber-default", "--json"))] == [
        1,
        2,
    ]

    shown = run(admin, "show", "cyber-default@1")
    assert shown.exit_code == 0, shown.output
    for words in ("cyber-default", "version 1", "predeploy/cyber_suite", "messages=80",
                  "time=30m", "bwrap", "(first)", "reduced-safeguards", "previous",
                  "attempts 2, with a system prompt"):  # fmt: skip
        assert words in shown.stdout, words
    assert _json(run(admin, "show", changed["id"], "--json"))["version"] == 2

    exported = run(admin, "export", "cyber-default@1")
    assert exported.exit_code == 0, exported.output
    assert (
        exported.stdout
        == api.http.get("/api/v1/plans/cyber-default@1/export", headers=admin.headers).text
    )
    out = tmp_path / "exported.yaml"
    assert run(admin, "export", "cyber-default@1", "--out", str(out)).exit_code == 0
    assert out.read_text() == exported.stdout
    # The export of version 1 differs from the latest (2): importing it makes version 3.
    assert _json(run(admin, "import", str(out), "--json"))["version"] == 3
    assert _json(run(admin, "import", str(out), "--json"))["created"] is False


def test_a_bad_plan_file_is_reported_before_anything_is_sent(
    api: Api, run: Run, transport: Recording, tmp_path: Path
) -> None:
    cases: list[tuple[dict[str, Any] | str, str | None, str]] = [
        (with_item({"epochs": 0}), "items.0.epochs",
         "items.0.epochs: Input should be greater than or equal to 1"),
        (with_item({"sandbox": "podman"}, 1), "items.1.sandbox", "items.1.sandbox: Input should be"),
        ("name: [cyber\n", None, "not valid YAML (line 2, column 1)"),
        ("- a list\n", None, "a plan is a mapping"),
    ]  # fmt: skip
    for n, (data, field, words) in enumerate(cases):
        result = run(api.agency_admin, "import", _file(tmp_path, f"bad{n}.yaml", data))
        assert result.exit_code == 1, result.output
        assert words in result.stderr, result.stderr
        assert f"bad{n}.yaml" in result.stderr
        if field is not None:
            assert f"(field: {field})" in result.stderr
    big = _file(tmp_path, "big.yaml", "# padding\n" * 110_000)
    assert "(field: file)" in run(api.agency_admin, "import", big).stderr
    assert transport.sent == []
    assert run(api.agency_admin, "import", str(tmp_path / "missing.yaml")).exit_code == 2


def test_outsiders_are_refused(api: Api, run: Run, tmp_path: Path) -> None:
    assert run(api.agency_admin, "import", _file(tmp_path, "plan.yaml", PLAN)).exit_code == 0
    submitter = api.user(api.org("Acme AI", "developer"), "submitter")
    listed = run(submitter, "list")
    assert listed.exit_code == 1 and "(HTTP 403)" in listed.stderr
    shown = run(submitter, "show", "cyber-default")
    assert shown.exit_code == 1
    assert "plan 'cyber-default' not found (HTTP 404) (field: plan)" in shown.stderr
    exported = run(submitter, "export", "cyber-default")
    assert exported.exit_code == 1 and "(HTTP 404)" in exported.stderr
    assert exported.stdout == ""
    refused = run(submitter, "import", _file(tmp_path, "mine.yaml", with_item({"epochs": 7})))
    assert refused.exit_code == 1 and "(HTTP 403)" in refused.stderr


def test_the_example_plan_imports(api: Api, run: Run) -> None:
    result = _json(run(api.agency_admin, "import", str(EXAMPLE), "--json"))
    document = result["document"]
    categories = [
        all_families()[name].category
        for item in document["items"]
        for name in item["task_args"]["families"]
    ]
    assert sorted(categories) == sorted({f.category for f in all_families().values()})
    assert all(item["task_args"]["levels"] == [1, 2, 3] for item in document["items"])
    assert {item["task"] for item in document["items"]} == {"predeploy/cyber_suite"}
    assert all(item["sandbox"] == "bwrap" and item["epochs"] == 2 for item in document["items"])
