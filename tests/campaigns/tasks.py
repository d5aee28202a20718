"""Inspect tasks that test plans reference by file path (`tests/campaigns/tasks.py@tiny`)."""

from __future__ import annotations

from inspect_ai import Task, task
from inspect_ai.dataset import Sample
from inspect_ai.scorer import Score, Target, accuracy, scorer
from inspect_ai.solver import TaskState, generate


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
