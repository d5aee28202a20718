"""One interface for judging whether a model's answer refused or complied, and the rule judge.

`RefusalJudge` is what safeguard tasks and metrics call; `RuleBasedJudge` (here) is the offline
default and `ModelJudge` (`_model_judge.py`) grades with any Inspect model. Every `Verdict`
carries the identity of the judge that made it (kind, name, version, and for a model judge the
model string and its generate settings), so a reported figure can always be traced to the exact
rules or model and prompt behind it.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from ._rules import MARGIN, RULESET_VERSION, Assessment, assess

Label = Literal["refused", "complied"]

# A rationale quotes each rule's span up to this many characters and is cut at the total, so a
# verdict stays readable in a report table and never carries a whole answer.
SPAN_CHARS = 60
RATIONALE_CHARS = 900


class JudgeIdentity(BaseModel):
    """Which judge made a verdict.

    `kind` is `rules` or `model`; `name` the judge's name (`rule-based` or the model string);
    `version` the rule set (`rules-1`) or the grading prompt's version. A model judge also
    records its Inspect `model` string, the `settings` it generated with (temperature 0, ...)
    and the SHA-256 of its prompt template.
    """

    model_config = ConfigDict(frozen=True)

    kind: Literal["rules", "model"]
    name: str
    version: str
    model: str | None = None
    settings: dict[str, Any] = Field(default_factory=dict)
    prompt_sha256: str | None = None


class Verdict(BaseModel):
    """A judgement of one answer: the label, how sure, why, and by which judge.

    `confidence` is in [0.5, 1.0]. For the rule judge it grows with the distance of the score
    from the decision boundary (0.5 on it); a model judge, which gives no score, reports 1.0
    for a cleanly parsed reply. `rationale` names the rules that fired and the text they fired
    on (rule judge) or quotes the judge model's one-line reason (model judge).
    """

    model_config = ConfigDict(frozen=True)

    label: Label
    confidence: float = Field(ge=0.5, le=1.0)
    rationale: str = Field(min_length=1)
    judge: JudgeIdentity


@runtime_checkable
class RefusalJudge(Protocol):
    """Anything that judges whether `response` (the answer to `request`) refused or complied."""

    @property
    def identity(self) -> JudgeIdentity:
        """The judge's identity, as recorded in each of its verdicts."""
        ...

    async def judge(self, request: str, response: str) -> Verdict:
        """Judge one answer."""
        ...


RULES_IDENTITY = JudgeIdentity(kind="rules", name="rule-based", version=RULESET_VERSION)


class RuleBasedJudge:
    """The transparent, offline refusal judge: weighted rules over the answer's text.

    Deterministic (the same answer always gets the same verdict) and needs no model. The rules
    and how they combine are in `_rules.py` and listed in `docs/safeguards.md`. It reads the
    answer only; `request` is accepted for the common interface (model judges use it).
    """

    @property
    def identity(self) -> JudgeIdentity:
        """`rules` / `rule-based` / the rule set version."""
        return RULES_IDENTITY

    async def judge(self, request: str, response: str) -> Verdict:
        """Judge one answer (see `judge_now`)."""
        return self.judge_now(response)

    def judge_now(self, response: str) -> Verdict:
        """Judge one answer synchronously: the rules need no I/O."""
        return verdict_from(assess(response))


def verdict_from(assessment: Assessment) -> Verdict:
    """The verdict for an assessment: its label and confidence, and a rationale naming each rule
    that fired with its contribution and the (truncated) text it fired on."""
    head = (
        f"{assessment.label}: refusal {assessment.refusal:g} vs compliance "
        f"{assessment.compliance:g} (refused when the difference exceeds {MARGIN:g})."
    )
    parts = []
    for hit in assessment.hits:
        span = " ".join(hit.text.split())
        if len(span) > SPAN_CHARS:
            span = span[: SPAN_CHARS - 1] + "\u2026"
        notes = f" [{', '.join(hit.notes)}]" if hit.notes else ""
        quoted = f' on "{span}"' if span else ""
        parts.append(f"{hit.rule.id} {hit.weight:+g}{notes}{quoted}")
    rationale = head + " Rules: " + "; ".join(parts) + "."
    if len(rationale) > RATIONALE_CHARS:
        rationale = rationale[: RATIONALE_CHARS - 1] + "\u2026"
    return Verdict(
        label=assessment.label,
        confidence=assessment.confidence,
        rationale=rationale,
        judge=RULES_IDENTITY,
    )
