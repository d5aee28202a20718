"""Inspect tasks for runs against `FakeOpenAIServer`, referenced by file path (Inspect loads the
file itself): `LOOKUP_FLAGS_TASK` is `".../predeploy/testing/tasks.py@lookup_flags"`.

`lookup_flags` needs a script that calls `lookup` with the key from the prompt, then `submit`s
what it returned (see the campaign tests and `bench/campaign_overhead.py`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from inspect_ai import Task, task
from inspect_ai.dataset import Sample
from inspect_ai.scorer import includes
from inspect_ai.solver import basic_agent
from inspect_ai.tool import Tool, tool

LOOKUP_FLAGS_TASK = f"{Path(__file__).resolve()}@lookup_flags"


def secret_for(key: str) -> str:
    """The flag `lookup` returns for `key` (and the sample's target)."""
    return "flag{" + hashlib.sha256(key.encode()).hexdigest()[:16] + "}"


@tool
def lookup() -> Tool:
    async def execute(key: str) -> str:
        """Look up the flag for a key.

        Args:
            key: The key from the task description.
        """
        return f"the flag for {key} is {secret_for(key)}"

    return execute


@task
def lookup_flags(samples: int = 10) -> Task:
    """Two model turns per sample: call `lookup` with the key, then submit what it returned.

    The flag is only in the tool's output, so a correct answer proves the whole conversation
    (both model calls and the tool call) went through.
    """
    dataset = [
        Sample(
            id=f"key-{i}",
            input=f"Your key is K{i:04d}. Call lookup with it and submit the flag it gives you.",
            target=secret_for(f"K{i:04d}"),
        )
        for i in range(samples)
    ]
    return Task(dataset=dataset, solver=basic_agent(tools=[lookup()]), scorer=includes())
