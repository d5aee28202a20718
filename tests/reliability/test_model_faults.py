"""Campaigns against a real HTTP model endpoint (the fake OpenAI server) that fails 30% of calls
in every way an endpoint fails, and a submission withdrawn while its campaign calls the model."""

from __future__ import annotations

import threading
import time
import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from predeploy.campaigns.models import Campaign
from predeploy.campaigns.schemas import WorkerOutcome
from predeploy.campaigns.worker import CLASSIFIED_RETRIES
from predeploy.submissions.models import AccessKey
from predeploy.testing import FakeOpenAIServer, Faults, Script, ToolCall, Turn
from predeploy.testing.tasks import LOOKUP_FLAGS_TASK
from tests.campaigns.conftest import Lab
from tests.campaigns.conftest import lab as lab
from tests.campaigns.workers import runner_pids, wait_for
from tests.submissions.conftest import world as world

API_KEY = "sk-fake-9Vq2LmX7pRt4ZwK8sNb3"  # distinctive, to look for everywhere afterwards

# Call `lookup` with the key from the prompt, then submit the flag it returned.
LOOKUP_THEN_SUBMIT = Script(
    turns=(
        Turn(tool_calls=(ToolCall("lookup", {"key": "{key}"}),)),
        Turn(tool_calls=(ToolCall("submit", {"answer": "{flag}"}),)),
    ),
    captures={"key": r"K\d{4}", "flag": r"flag\{[0-9a-f]+\}"},
)


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(script=LOOKUP_THEN_SUBMIT, api_key=API_KEY, models=("m",)) as running:
        yield running


def _variant(server: FakeOpenAIServer) -> dict[str, Any]:
    return {
        "label": "production",
        "model": "openai-api/fake/m",
        "base_url": server.base_url,
        "api_key": API_KEY,
    }


def _item(samples: int, **fields: Any) -> dict[str, Any]:
    return {"task": LOOKUP_FLAGS_TASK, "task_args": {"samples": samples}, **fields}


@pytest.mark.slow
def test_a_campaign_survives_an_endpoint_failing_thirty_percent_of_calls(
    lab: Lab, server: FakeOpenAIServer
) -> None:
    settings = lab.world.api.runtime.settings
    settings.model_attempt_timeout_seconds = 2
    server.set_faults(Faults(rate=0.3, seed=7, retry_after=0, hang=10))
    sub = lab.submission(_variant(server))
    lab.plan(_item(24))
    campaign = lab.start(sub["id"])
    assert lab.work() == ["succeeded"]

    done = lab.campaign(campaign["id"])
    assert done["state"] == "completed", done
    results = lab.results(campaign["id"])
    assert len(results) == 24
    # A failure of the endpoint is never the model failing the task: every sample either solved
    # it (all of them did, through the retries) or is set apart as a model error with no score.
    for row in results:
        assert row["score"] == 1.0 or (row["error_class"] == "model_error" and row["score"] is None)
    assert sum(row["score"] == 1.0 for row in results) >= 22
    injected = Counter(r.fault for r in server.requests if r.fault is not None)
    assert set(injected) == {"rate_limit", "server_error", "timeout", "malformed", "truncated"}
    assert all(r.key_matched for r in server.requests)
    # Every retried failure is classified: none falls through to "other".
    retried = done["progress"]["retried_failures"]
    assert set(retried) <= CLASSIFIED_RETRIES, retried
    assert retried.get("rate_limit", 0) > 0
    assert retried.get("server_error", 0) > 0
    assert retried.get("timeout", 0) > 0
    assert retried.get("malformed_response", 0) > 0
    assert retried.get("connection", 0) > 0  # a truncated answer breaks the connection
    assert sum(retried.values()) >= sum(injected.values()) * 0.5
    _assert_key_nowhere(lab, campaign["id"], [done, results])


def _assert_key_nowhere(lab: Lab, campaign_id: str, answers: list[Any]) -> None:
    """The key is in no table, no log file (every member of every .eval zip) and no answer."""
    runtime = lab.world.api.runtime
    with runtime.transaction(read_only=True) as session:
        root = session.scalars(select(Campaign.log_root).where(Campaign.id == campaign_id)).one()
        engine = session.get_bind()
        tables = [t for t in engine.dialect.get_table_names(session.connection())]
        for table in tables:
            for row in session.execute(text(f'SELECT * FROM "{table}"')):
                assert API_KEY not in repr(tuple(row)), table
    files = [path for path in Path(root).rglob("*") if path.is_file()]
    assert any(path.suffix == ".eval" for path in files)
    for path in files:
        assert API_KEY.encode() not in path.read_bytes(), path
        if path.suffix == ".eval":
            with zipfile.ZipFile(path) as archive:
                for member in archive.namelist():
                    assert API_KEY.encode() not in archive.read(member), (path, member)
    assert API_KEY not in repr(answers)


@pytest.mark.slow
def test_withdrawal_mid_campaign_stops_model_calls_and_destroys_the_key(lab: Lab) -> None:
    with FakeOpenAIServer(script=LOOKUP_THEN_SUBMIT, latency=0.3, api_key=API_KEY) as server:
        _withdraw_mid_campaign(lab, server)


def _withdraw_mid_campaign(lab: Lab, server: FakeOpenAIServer) -> None:
    world = lab.world
    runtime = world.api.runtime
    runtime.settings.model_max_connections = 4
    runtime.settings.worker_heartbeat_seconds = 0.5
    runtime.settings.log_flush_samples = 1
    sub = lab.submission(_variant(server))
    lab.plan(_item(40))
    campaign = lab.start(sub["id"])
    outcomes: list[WorkerOutcome] = []
    worker = lab.worker()
    thread = threading.Thread(target=lambda: outcomes.append(worker.run_once()))
    thread.start()
    try:
        wait_for(lambda: len(server.requests) >= 16, timeout=120, what="model calls to start")
        answer = world.move(sub["id"], "withdrawn", world.submitter, "we changed our plans")
        assert answer.status_code == 200, answer.text
        committed = time.time()
        thread.join(timeout=60)
        assert not thread.is_alive()
    finally:
        worker.stop.set()
        thread.join(timeout=60)
        worker.close()
    time.sleep(1.0)  # anything still on its way would arrive now
    # Calls the gate admitted before the commit may reach the endpoint a moment later on a busy
    # machine (at most one per connection); nothing is sent once the gate has seen the commit.
    after = [r for r in server.requests if r.started > committed]
    assert len(after) <= runtime.settings.model_max_connections, after
    assert [r for r in after if r.started > committed + 2.0] == [], after
    assert outcomes[0].outcome == "cancelled"
    assert not runner_pids(runtime)
    ended = lab.campaign(campaign["id"])
    assert ended["state"] == "cancelled"
    assert ended["reason"] == "submission withdrawn"
    with runtime.transaction(read_only=True) as session:
        key = session.scalars(select(AccessKey)).one()
        assert key.ciphertext is None
        assert key.destroyed_reason == "withdrawn"
    # What was gathered before the withdrawal is kept (under the retention policy).
    assert 0 < len(lab.results(campaign["id"])) < 40
