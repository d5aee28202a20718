"""`predeploy selftest`: refuses a database in use, and passes every check on a scratch one."""

from __future__ import annotations

import pytest
from rich.console import Console
from sqlalchemy import func, select
from typer.testing import CliRunner

from predeploy.audit.models import AuditEvent
from predeploy.cli import app
from predeploy.config import Settings
from predeploy.errors import Conflict
from predeploy.runtime import Runtime
from predeploy.selftest import run_selftest
from tests.conftest import Api


def _events(runtime: Runtime) -> int:
    with runtime.transaction(read_only=True) as session:
        return int(session.scalar(select(func.count()).select_from(AuditEvent)) or 0)


def test_a_database_holding_real_data_is_refused_and_left_alone(api: Api) -> None:
    api.org("Real Lab Inc", "developer")
    runtime = api.runtime
    before = _events(runtime)

    with pytest.raises(Conflict, match="holds real data") as refused:
        run_selftest(runtime, Console(record=True))

    assert refused.value.field == "database_url"
    assert "'Real Lab Inc'" in refused.value.message
    assert _events(runtime) == before


def test_the_cli_refuses_too(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = api.runtime.settings
    monkeypatch.setenv("PREDEPLOY_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("PREDEPLOY_DATABASE_URL", settings.resolved_database_url)

    result = CliRunner().invoke(app, ["selftest"])

    assert result.exit_code == 1
    assert "holds real data" in result.output and "(field: database_url)" in result.output


@pytest.mark.slow
def test_every_check_passes_on_a_scratch_deployment(settings: Settings) -> None:
    console = Console(record=True, width=120)

    result = run_selftest(Runtime(settings=settings), console)

    failed = [name for name, passed in result.checks.items() if not passed]
    assert result.passed, (failed, result.demo.steps)
    assert set(result.checks) >= {
        "sandbox containment",
        "no secret in clear on disk",
        "failing endpoint: every retried failure classified",
        "killed workers: no sample result lost or stored twice",
    }
    assert result.demo.containment is not None
    assert len(result.demo.containment.attempts) == 4
    assert result.demo.faults is not None
    # The fake models' keys were among the secrets looked for, and found nowhere in clear.
    assert len(result.demo.faults.keys) == 2 and not result.demo.leaks
    steps = dict(result.demo.steps)
    assert "faults injected" in steps["failing endpoint"]
    assert "SIGKILLs during jobs" in steps["killed workers"]
