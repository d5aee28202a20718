"""Measuring judges: precision / recall / F1 against labelled answers, and agreement of two judges.

`evaluate` runs a judge over labelled examples and scores it, overall, per category (`misuse`,
`benign`) and per framing. `agreement` compares two judges' verdicts on the same answers: the
share agreeing and Cohen's kappa (agreement beyond what the two judges' label rates would give
by chance), which is what a report states when both the rule judge and a model judge ran.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import anyio
from pydantic import BaseModel, ConfigDict

from ._judge import JudgeIdentity, Label, RefusalJudge, Verdict

LABELS: tuple[Label, Label] = ("refused", "complied")


class LabelledExample(BaseModel):
    """An answer with its true label (one line of a labelled JSONL file)."""

    model_config = ConfigDict(frozen=True)

    id: str
    category: str
    framing: str
    request: str
    response: str
    label: Label
    note: str = ""


def load_examples(path: str | Path) -> list[LabelledExample]:
    """The examples of a JSONL file, one object per non-blank line."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [LabelledExample.model_validate(json.loads(line)) for line in lines if line.strip()]


class ClassScores(BaseModel):
    """Precision, recall and F1 for one label taken as the positive class.

    `None` where the figure is undefined (no predictions of the label for precision, no true
    examples of it for recall), rather than a misleading 0 or 1.
    """

    model_config = ConfigDict(frozen=True)

    label: Label
    true_positives: int
    false_positives: int
    false_negatives: int
    support: int
    precision: float | None
    recall: float | None
    f1: float | None


class GroupScores(BaseModel):
    """Scores over one group of examples (all, one category, or one framing)."""

    model_config = ConfigDict(frozen=True)

    n: int
    correct: int
    accuracy: float | None
    refused: ClassScores
    complied: ClassScores


class Misjudged(BaseModel):
    """An example the judge got wrong, with the judge's rationale."""

    model_config = ConfigDict(frozen=True)

    id: str
    category: str
    framing: str
    label: Label
    verdict: Label
    rationale: str


class JudgeScores(BaseModel):
    """A judge measured on labelled examples."""

    model_config = ConfigDict(frozen=True)

    judge: JudgeIdentity
    overall: GroupScores
    by_category: dict[str, GroupScores]
    by_framing: dict[str, GroupScores]
    misjudged: list[Misjudged]


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _class_scores(pairs: Sequence[tuple[Label, Label]], positive: Label) -> ClassScores:
    tp = sum(1 for truth, guess in pairs if truth == positive and guess == positive)
    fp = sum(1 for truth, guess in pairs if truth != positive and guess == positive)
    fn = sum(1 for truth, guess in pairs if truth == positive and guess != positive)
    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, tp + fn)
    f1 = (
        2 * precision * recall / (precision + recall)
        if precision is not None and recall is not None and precision + recall > 0
        else None
    )
    return ClassScores(
        label=positive,
        true_positives=tp,
        false_positives=fp,
        false_negatives=fn,
        support=tp + fn,
        precision=precision,
        recall=recall,
        f1=f1,
    )


def _group(pairs: Sequence[tuple[Label, Label]]) -> GroupScores:
    correct = sum(1 for truth, guess in pairs if truth == guess)
    return GroupScores(
        n=len(pairs),
        correct=correct,
        accuracy=_ratio(correct, len(pairs)),
        refused=_class_scores(pairs, "refused"),
        complied=_class_scores(pairs, "complied"),
    )


def scores_of(
    examples: Sequence[LabelledExample], verdicts: Sequence[Verdict], judge: JudgeIdentity
) -> JudgeScores:
    """Score `verdicts` (one per example, in the same order) against the examples' labels."""
    if len(examples) != len(verdicts):
        raise ValueError(f"{len(examples)} examples but {len(verdicts)} verdicts")
    pairs = [(ex.label, v.label) for ex, v in zip(examples, verdicts, strict=True)]

    def grouped(key: str) -> dict[str, GroupScores]:
        groups: dict[str, list[tuple[Label, Label]]] = {}
        for example, pair in zip(examples, pairs, strict=True):
            groups.setdefault(getattr(example, key), []).append(pair)
        return {name: _group(group) for name, group in sorted(groups.items())}

    return JudgeScores(
        judge=judge,
        overall=_group(pairs),
        by_category=grouped("category"),
        by_framing=grouped("framing"),
        misjudged=[
            Misjudged(
                id=ex.id,
                category=ex.category,
                framing=ex.framing,
                label=ex.label,
                verdict=v.label,
                rationale=v.rationale,
            )
            for ex, v in zip(examples, verdicts, strict=True)
            if ex.label != v.label
        ],
    )


async def judge_all(
    judge: RefusalJudge, examples: Iterable[LabelledExample], *, concurrency: int = 8
) -> list[Verdict]:
    """The judge's verdict on every example, in order; at most `concurrency` judged at once
    (a model judge makes one call per example)."""
    items = list(examples)
    results: list[Verdict | None] = [None] * len(items)
    limiter = anyio.CapacityLimiter(max(1, concurrency))

    async def one(index: int, example: LabelledExample) -> None:
        async with limiter:
            results[index] = await judge.judge(example.request, example.response)

    async with anyio.create_task_group() as group:
        for index, example in enumerate(items):
            group.start_soon(one, index, example)
    return [verdict for verdict in results if verdict is not None]


async def evaluate(
    judge: RefusalJudge, examples: Iterable[LabelledExample], *, concurrency: int = 8
) -> JudgeScores:
    """Judge every example and score the judge: precision, recall and F1 for `refused` and for
    `complied`, overall, per category and per framing, and the examples it got wrong.

    A judge error (e.g. a model judge's unparseable reply) propagates: a score over a silently
    shrunk set of examples would not be comparable with the others.
    """
    items = list(examples)
    verdicts = await judge_all(judge, items, concurrency=concurrency)
    return scores_of(items, verdicts, judge.identity)


class Agreement(BaseModel):
    """How two judges agree on the same answers.

    `both_refused` / `both_complied` / `only_a_refused` / `only_b_refused` are the 2x2 table;
    `share_agreeing` is (both_refused + both_complied) / n; `kappa` is Cohen's kappa, `None`
    when it is undefined (no answers, or both judges gave one and the same label throughout so
    chance agreement is 1). `disagreements` are the indices where they differ.
    """

    model_config = ConfigDict(frozen=True)

    judge_a: JudgeIdentity | None
    judge_b: JudgeIdentity | None
    n: int
    both_refused: int
    both_complied: int
    only_a_refused: int
    only_b_refused: int
    share_agreeing: float | None
    kappa: float | None
    disagreements: list[int]


def agreement(verdicts_a: Sequence[Verdict], verdicts_b: Sequence[Verdict]) -> Agreement:
    """Agreement of two judges' verdicts on the same answers, in the same order."""
    if len(verdicts_a) != len(verdicts_b):
        raise ValueError(f"{len(verdicts_a)} verdicts against {len(verdicts_b)}")
    a = [v.label for v in verdicts_a]
    b = [v.label for v in verdicts_b]
    n = len(a)
    both_refused = sum(1 for x, y in zip(a, b, strict=True) if x == y == "refused")
    both_complied = sum(1 for x, y in zip(a, b, strict=True) if x == y == "complied")
    only_a = sum(1 for x, y in zip(a, b, strict=True) if x == "refused" and y == "complied")
    only_b = sum(1 for x, y in zip(a, b, strict=True) if x == "complied" and y == "refused")
    observed = _ratio(both_refused + both_complied, n)
    kappa: float | None = None
    if n and observed is not None:
        # Chance agreement: both say `refused` by chance plus both say `complied` by chance,
        # each judge at its own rate.
        a_refused, b_refused = a.count("refused") / n, b.count("refused") / n
        expected = a_refused * b_refused + (1 - a_refused) * (1 - b_refused)
        if expected < 1:
            kappa = (observed - expected) / (1 - expected)
    return Agreement(
        judge_a=verdicts_a[0].judge if verdicts_a else None,
        judge_b=verdicts_b[0].judge if verdicts_b else None,
        n=n,
        both_refused=both_refused,
        both_complied=both_complied,
        only_a_refused=only_a,
        only_b_refused=only_b,
        share_agreeing=observed,
        kappa=kappa,
        disagreements=[i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y],
    )
