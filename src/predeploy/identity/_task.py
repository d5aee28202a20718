"""`predeploy/identity_probes`: a probe set asked as an Inspect task.

Campaigns take each tested variant's fingerprint through this task, so the probes go through the
same queue, workers, key handling and retry accounting as every other job. Each probe is one
sample, asked exactly as `compute_fingerprint` asks it (the probe set's instruction as system
message, the probe as user message, temperature 0, fixed seed and token limit); the score keeps
the answer's hash in its metadata, which `fingerprint_from_hashes` turns into the fingerprint.
"""

from __future__ import annotations

from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import ChatMessageSystem, ChatMessageUser, GenerateConfig
from inspect_ai.scorer import Score, Scorer, Target, mean, scorer
from inspect_ai.solver import TaskState, generate

from ._fingerprint import DEFAULT_MAX_TOKENS, DEFAULT_SEED, TEMPERATURE, normalise
from ._probes import PROBE_SET, probe_set
from .schemas import FAILED_ANSWER_HASH, answer_hash

IDENTITY_TASK = "predeploy/identity_probes"


@scorer(metrics=[mean()])
def probe_answer() -> Scorer:
    """1 when the probe was answered (its normalised answer and hash are kept), 0 when the
    provider returned an error instead (the failure marker's hash)."""

    async def score(state: TaskState, target: Target) -> Score:
        if state.output.error:
            return Score(
                value=0,
                explanation="the provider returned an error",
                metadata={"answer_hash": FAILED_ANSWER_HASH, "failed": True},
            )
        answer = normalise(state.output.completion)
        return Score(value=1, answer=answer, metadata={"answer_hash": answer_hash(answer)})

    return score


@task
def identity_probes(
    probe_set_id: str = PROBE_SET.id,
    seed: int = DEFAULT_SEED,
    max_tokens: int = DEFAULT_MAX_TOKENS,
) -> Task:
    """Every probe of `probe_set_id`, asked once at temperature 0 with `seed` and `max_tokens`."""
    probes = probe_set(probe_set_id)
    samples = [
        Sample(
            id=probe.id,
            input=[
                ChatMessageSystem(content=probes.instruction),
                ChatMessageUser(content=probe.prompt),
            ],
            metadata={"probe_set": probes.id, "kind": probe.kind},
        )
        for probe in probes.probes
    ]
    return Task(
        dataset=MemoryDataset(samples, name=f"predeploy-identity-{probes.id}"),
        solver=generate(),
        scorer=probe_answer(),
        config=GenerateConfig(temperature=TEMPERATURE, seed=seed, max_tokens=max_tokens),
        metadata={"probe_set": probes.id, "probe_set_sha256": probes.sha256},
    )
