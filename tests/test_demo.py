"""`predeploy demo` runs the submission flow end to end over real HTTP on loopback, twice."""

from __future__ import annotations

from rich.console import Console

from predeploy.config import Settings
from predeploy.demo import run_demo
from predeploy.runtime import Runtime


def test_demo_runs_end_to_end_and_again_on_the_same_data_dir(settings: Settings) -> None:
    console = Console(record=True, width=120)
    first = run_demo(Runtime(settings=settings), console)
    assert first.chain_ok and first.keys_absent_from_db
    assert first.submission["state"] == "accepted"
    assert first.submission["window_state"] == "open"
    assert all(v["has_api_key"] for v in first.submission["access_variants"])
    assert [s["to_state"] for s in first.submission["history"]][-2:] == ["submitted", "accepted"]
    assert first.server_url.startswith("http://127.0.0.1:")

    second = run_demo(Runtime(settings=settings), console)
    assert second.chain_ok
    assert second.submission["id"] != first.submission["id"]
    assert second.submission["model_version"] == "demo-2"
    assert second.audit_rows > first.audit_rows
    assert "Testing window" in console.export_text()
