"""Inspect tasks that test plans reference by file path (`tests/campaigns/tasks.py@tiny`)."""

from __future__ import annotations

import hashlib

from inspect_ai import Task, task
from inspect_ai.dataset import Sample
from inspect_ai.scorer import Score, Target, accuracy, includes, scorer
from inspect_ai.solver import TaskState, basic_agent, generate
from inspect_ai.tool import Tool, tool


@scorer(metrics=[accuracy()])
def records_its_argument(n: int):  # type: ignore[no-untyped-def]
    """Scores every sample correct, recording which task argument produced it."""

    async def score(state: TaskState, target: Target) -> Score:
        return Score(value=f"n={n}", answer=state.output.completion)

    return score


@task
def tiny(n: int = 0) -> Task:
    """One sample and one model call: the smallest real job."""
    return Task(
        dataset=[Sample(id=f"tiny-{n}", input=f"say {n}", target=str(n))],
        solver=generate(),
        scorer=records_its_argument(n),
    )


def secret_for(key: str) -> str:
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
