"""`Coalesced`: the batching behind the runner's gate and sample-start writes."""

from __future__ import annotations

import io
import json
import threading
from datetime import timedelta
from pathlib import Path

import anyio
import pytest

from predeploy.campaigns import _coalesce
from predeploy.campaigns._coalesce import Coalesced
from predeploy.campaigns._runner import RunnerJob
from predeploy.db import make_engine


class Recorder:
    """A blocking function that records its batches and can be held mid-run."""

    def __init__(self, failures: int = 0) -> None:
        self.batches: list[list[int]] = []
        self.release = threading.Event()
        self.release.set()
        self.failures = failures

    def __call__(self, batch: list[int]) -> int:
        self.release.wait(10)
        if self.failures:
            self.failures -= 1
            raise ConnectionError("database unreachable")
        self.batches.append(list(batch))
        return len(self.batches)


def test_callers_arriving_during_a_run_share_the_next_run_and_never_get_an_older_answer() -> None:
    recorder = Recorder()
    recorder.release.clear()
    answers: dict[int, int] = {}

    async def main() -> None:
        coalesced: Coalesced[int, int] = Coalesced(recorder)

        async def call(item: int) -> None:
            answers[item] = await coalesced(item)

        async with anyio.create_task_group() as group:
            group.start_soon(call, 0)
            await anyio.sleep(0.05)  # run 1 (item 0) is now blocked in its thread
            for item in range(1, 6):
                group.start_soon(call, item)
            await anyio.sleep(0.05)
            recorder.release.set()
        assert coalesced.runs == 2

    anyio.run(main)
    assert recorder.batches == [[0], [1, 2, 3, 4, 5]]
    # Items 1-5 asked while run 1 was reading: they get run 2's answer, read after they asked.
    assert answers == {0: 1, 1: 2, 2: 2, 3: 2, 4: 2, 5: 2}


def test_one_caller_at_a_time_runs_once_per_call() -> None:
    recorder = Recorder()

    async def main() -> list[int]:
        coalesced: Coalesced[int, int] = Coalesced(recorder)
        return [await coalesced(item) for item in range(3)]

    assert anyio.run(main) == [1, 2, 3]
    assert recorder.batches == [[0], [1], [2]]


def test_a_failing_run_is_retried_until_it_succeeds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_coalesce, "RETRY_FIRST_DELAY", 0.01)
    recorder = Recorder(failures=2)
    failures: list[Exception] = []

    async def main() -> int:
        coalesced: Coalesced[int, int] = Coalesced(recorder, on_failure=failures.append)
        return await coalesced(7)

    assert anyio.run(main) == 1
    assert recorder.batches == [[7]]
    assert [str(exc) for exc in failures] == ["database unreachable"] * 2


def test_a_cancelled_run_hands_its_batch_to_the_callers_still_waiting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_coalesce, "RETRY_FIRST_DELAY", 0.2)
    recorder = Recorder(failures=1)
    answers: dict[int, int] = {}

    async def main() -> None:
        coalesced: Coalesced[int, int] = Coalesced(recorder)

        async def call(item: int) -> None:
            answers[item] = await coalesced(item)

        async with anyio.create_task_group() as group:
            first = anyio.CancelScope()

            async def cancellable() -> None:
                with first:
                    await coalesced(0)

            group.start_soon(cancellable)
            await anyio.sleep(0.05)  # run 1 failed and waits to retry
            group.start_soon(call, 1)
            await anyio.sleep(0.01)
            first.cancel()

    anyio.run(main)
    # Item 0 was taken by the cancelled run: the next run still writes it, with item 1.
    assert recorder.batches == [[0, 1]]
    assert answers == {1: 1}


def test_the_runner_gate_stays_closed_while_the_database_cannot_be_read(tmp_path: Path) -> None:
    events = io.StringIO()
    engine = make_engine(f"sqlite:///{tmp_path / 'missing-dir' / 'db.sqlite'}")
    job = RunnerJob("job-1", 1, "worker-1", engine, timedelta(0), events)
    admitted: list[str | None] = []

    async def main() -> None:
        with anyio.move_on_after(1.5):
            admitted.append(await job.may_call_model())

    try:
        anyio.run(main)
    finally:
        job.close()
        engine.dispose()
    assert admitted == []  # neither admitted nor refused: the call waits
    reported = [json.loads(line) for line in events.getvalue().splitlines()]
    assert reported and all(event["type"] == "database_error" for event in reported)
    assert "unable to open database file" in reported[0]["error"]
