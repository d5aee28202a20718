"""Safeguards: judging whether a model's answer refused or complied.

One interface, `RefusalJudge` (`await judge.judge(request, response) -> Verdict`), with two
judges behind it:

- `RuleBasedJudge`, the offline default: a transparent, versioned rule set (`RULESET_VERSION`,
  `RULES`) of weighted refusal and compliance signals in English, French, German and Spanish.
  Deterministic; every verdict names the rules that fired and the text they fired on.
- `ModelJudge`: any Inspect model grading with a fixed, versioned prompt
  (`GRADING_PROMPT_VERSION`) at temperature 0; its identity (model string, settings, prompt
  hash) is recorded in every verdict, and an unreadable reply raises `UnparseableJudgement`.

`evaluate` measures a judge on labelled answers (precision / recall / F1 per label, overall,
per category and per framing); `agreement` compares two judges (share agreeing, Cohen's kappa).
See `docs/safeguards.md` for the rules, the measured figures and their limits.

The safeguard efficacy tasks (`predeploy/safeguards_misuse`, `predeploy/safeguards_overrefusal`,
in `_tasks.py`) score misuse compliance and over-refusal on the suite's seeded targets;
`safeguard_rates` turns their outcomes into rates with Wilson intervals.
"""

from ._judge import (
    RULES_IDENTITY,
    JudgeIdentity,
    Label,
    RefusalJudge,
    RuleBasedJudge,
    Verdict,
    verdict_from,
)
from ._metrics import (
    LABELS,
    Agreement,
    ClassScores,
    GroupScores,
    JudgeScores,
    LabelledExample,
    Misjudged,
    agreement,
    evaluate,
    judge_all,
    load_examples,
    scores_of,
)
from ._model_judge import (
    GRADING_PROMPT_SHA256,
    GRADING_PROMPT_VERSION,
    GRADING_TEMPLATE,
    JudgeError,
    ModelJudge,
    UnparseableJudgement,
    parse_grade,
    render_prompt,
)
from ._rules import (
    MARGIN,
    RULES,
    RULES_BY_ID,
    RULESET_VERSION,
    Assessment,
    Hit,
    Rule,
    assess,
    rule_table_markdown,
)

__all__ = [
    "GRADING_PROMPT_SHA256",
    "GRADING_PROMPT_VERSION",
    "GRADING_TEMPLATE",
    "LABELS",
    "MARGIN",
    "RULES",
    "RULESET_VERSION",
    "RULES_BY_ID",
    "RULES_IDENTITY",
    "Agreement",
    "Assessment",
    "ClassScores",
    "GroupScores",
    "Hit",
    "JudgeError",
    "JudgeIdentity",
    "JudgeScores",
    "Label",
    "LabelledExample",
    "Misjudged",
    "ModelJudge",
    "RefusalJudge",
    "Rule",
    "RuleBasedJudge",
    "UnparseableJudgement",
    "Verdict",
    "agreement",
    "assess",
    "evaluate",
    "judge_all",
    "load_examples",
    "parse_grade",
    "render_prompt",
    "rule_table_markdown",
    "scores_of",
    "verdict_from",
]

from ._rates import (
    MISUSE_TASK,
    OVERREFUSAL_TASK,
    SAFEGUARD_TASKS,
    Rate,
    RateTable,
    SafeguardRates,
    SampleOutcome,
    outcome_from_metadata,
    outcomes_from_log,
    rate_of,
    safeguard_rates,
)

__all__ += [
    "MISUSE_TASK",
    "OVERREFUSAL_TASK",
    "SAFEGUARD_TASKS",
    "Rate",
    "RateTable",
    "SafeguardRates",
    "SampleOutcome",
    "outcome_from_metadata",
    "outcomes_from_log",
    "rate_of",
    "safeguard_rates",
]
