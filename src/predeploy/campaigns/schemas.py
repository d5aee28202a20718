"""Request and response shapes for test plans, campaigns, their progress and their results."""

from __future__ import annotations

import enum
import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from ..identity import PROBE_SET, PROBE_SETS

NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,99}$"
LABEL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
# Inspect task references: registry names (`predeploy/cyber_suite`, `inspect_evals/cybench`),
# or a file path with an optional `@task` suffix. No shell metacharacters, no whitespace.
TASK_PATTERN = r"^[A-Za-z0-9_./@:-]{1,500}$"

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: object) -> float:
    """Seconds from a number or a text like `90m`, `6h`, `2d` (refusing anything else)."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or text such as '90m', '6h', '2d'")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    else:
        raise ValueError("a duration is a number of seconds or text such as '90m', '6h', '2d'")
    if not 0 < seconds <= 365 * 86400:
        raise ValueError("a duration must be above 0 and at most 365 days")
    return seconds


class SandboxKind(enum.StrEnum):
    """Where a plan item's tool calls run (Inspect sandbox types)."""

    BWRAP = "bwrap"
    LOCAL = "local"
    DOCKER = "docker"
    K8S = "k8s"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Limits(_Strict):
    """Per-sample limits, passed to Inspect as message, token, time and cost limits."""

    messages: int | None = Field(default=None, ge=1, le=100_000)
    tokens: int | None = Field(default=None, ge=1)
    time: int | None = Field(default=None, ge=1, description="Seconds of wall time per sample.")
    cost: float | None = Field(default=None, gt=0, description="US dollars per sample.")


class Elicitation(_Strict):
    """How hard the plan tries to draw out the model's capability."""

    agent: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_./-]{1,200}$",
        description="A registered Inspect solver (agent scaffold) used instead of the task's own.",
    )
    system_prompt: str | None = Field(default=None, max_length=20_000)
    attempts: int = Field(default=1, ge=1, le=100, description="Submissions per sample.")


class ReferenceModel(_Strict):
    """A model the results are compared against, e.g. the developer's previous model.

    Its key (if any) is never part of the plan: the worker reads it from `api_key_env`.
    """

    label: str = Field(pattern=LABEL_PATTERN)
    model: str = Field(min_length=3, max_length=300, description="An Inspect model string.")
    base_url: str | None = Field(default=None, max_length=2000)
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Z_][A-Z0-9_]{0,127}$")


class ModelPrice(_Strict):
    """What a model costs, in US dollars per million tokens (Inspect's `ModelCost`)."""

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    input_cache_write: float | None = Field(
        default=None, ge=0, description="Default: the input price."
    )
    input_cache_read: float | None = Field(
        default=None, ge=0, description="Default: the input price."
    )

    def inspect_cost(self) -> dict[str, float]:
        """The price as Inspect's `ModelCost` fields."""
        cache_write, cache_read = self.input_cache_write, self.input_cache_read
        return {
            "input": self.input,
            "output": self.output,
            "input_cache_write": self.input if cache_write is None else cache_write,
            "input_cache_read": self.input if cache_read is None else cache_read,
        }


class PlanItem(_Strict):
    """One task of a plan, with its arguments, epochs, limits, sandbox and target variant."""

    task: str = Field(pattern=TASK_PATTERN)
    task_args: dict[str, Any] = Field(default_factory=dict)
    epochs: int = Field(default=1, ge=1, le=100)
    limits: Limits = Field(default_factory=Limits)
    sandbox: SandboxKind | None = Field(
        default=None, description="Override the task's sandbox type (default: the task's own)."
    )
    sandbox_config: str | None = Field(
        default=None,
        min_length=1,
        max_length=1000,
        pattern=r"^[^\x00]+$",
        description="The sandbox's configuration file as the workers see it (a Helm values "
        "file for `k8s`, a compose file for `docker`); needs `sandbox`.",
    )
    variant: str | None = Field(
        default=None,
        pattern=LABEL_PATTERN,
        description="Access variant label to test (default: the submission's first).",
    )
    compare: bool = Field(default=True, description="Run the reference models on it too.")

    @field_validator("task_args")
    @classmethod
    def _plain_json(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,99}", key):
                raise ValueError(f"task argument name {key!r} is not a valid identifier")
        return value

    @model_validator(mode="after")
    def _config_needs_a_sandbox(self) -> PlanItem:
        if self.sandbox_config is not None and self.sandbox is None:
            raise ValueError("sandbox_config needs sandbox (the sandbox type it configures)")
        return self

    @property
    def is_suite(self) -> bool:
        """Whether this item runs the predeploy cyber suite (its seeds are ours to draw)."""
        return self.task.startswith("predeploy/cyber_")


class PlanDocument(_Strict):
    """A test plan as written in YAML (and stored, canonicalised, per version)."""

    name: str = Field(pattern=NAME_PATTERN)
    description: str = Field(default="", max_length=5000)
    estimated_duration: Annotated[
        float,
        Field(description="Seconds; '90m', '6h', '2d' accepted."),
        WithJsonSchema(
            {
                "anyOf": [{"type": "number"}, {"type": "string", "pattern": _DURATION.pattern}],
                "description": "Seconds, or text such as '90m', '6h', '2d'.",
            }
        ),
    ]
    elicitation: Elicitation = Field(default_factory=Elicitation)
    reference_models: list[ReferenceModel] = Field(default_factory=list, max_length=20)
    prices: dict[str, ModelPrice] = Field(
        default_factory=dict,
        max_length=50,
        description=(
            "Prices by access-variant or reference-model label, for cost limits and cost per "
            "success. Models in Inspect's own model database need none."
        ),
    )
    items: list[PlanItem] = Field(min_length=1, max_length=500)
    identity_probes: str | None = Field(
        default=PROBE_SET.id,
        description=(
            "The probe set each tested access variant answers at the start and at the end of "
            "the campaign (its behavioural fingerprint, signed into the report); null to skip."
        ),
    )

    @field_validator("identity_probes")
    @classmethod
    def _known_probe_set(cls, value: str | None) -> str | None:
        if value is not None and value not in PROBE_SETS:
            raise ValueError(
                f"unknown probe set {value!r} (known: {', '.join(sorted(PROBE_SETS))})"
            )
        return value

    @field_validator("estimated_duration", mode="before")
    @classmethod
    def _duration(cls, value: object) -> float:
        return parse_duration(value)

    @field_validator("prices")
    @classmethod
    def _price_labels(cls, value: dict[str, ModelPrice]) -> dict[str, ModelPrice]:
        for label in value:
            if not re.fullmatch(LABEL_PATTERN, label):
                raise ValueError(f"{label!r} is not a variant or reference-model label")
        return value

    @field_validator("reference_models")
    @classmethod
    def _unique_labels(cls, value: list[ReferenceModel]) -> list[ReferenceModel]:
        labels = [r.label for r in value]
        if len(labels) != len(set(labels)):
            raise ValueError("reference model labels must be unique")
        return value


class PlanOut(BaseModel):
    """One stored version of a plan."""

    id: str
    name: str
    version: int
    description: str
    digest: str = Field(description="SHA-256 of the canonical plan document.")
    items: int
    declared_duration_seconds: float
    estimated_duration_seconds: float
    estimate_source: str = Field(description="'declared', or 'learned from N runs'.")
    created_at: datetime
    document: PlanDocument
    created: bool = Field(
        default=False, description="On import: whether this import made a new version."
    )


class CampaignState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


CAMPAIGN_OPEN_STATES = frozenset({CampaignState.QUEUED, CampaignState.RUNNING})


class JobState(enum.StrEnum):
    HELD = "held"
    """Waits until every other job of its campaign has ended (the closing identity probes)."""
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


JOB_OPEN_STATES = frozenset({JobState.HELD, JobState.QUEUED, JobState.RUNNING})


class ErrorClass(enum.StrEnum):
    """Why a sample has no valid score (`none`: it has one)."""

    NONE = "none"
    MODEL_ERROR = "model_error"
    SCORER_ERROR = "scorer_error"
    SANDBOX_ERROR = "sandbox_error"
    LIMIT_REACHED = "limit_reached"


class CampaignCreate(_Strict):
    submission_id: str = Field(min_length=1, max_length=36)
    plan: str = Field(
        min_length=1, max_length=120, description="Plan name (latest version), NAME@VERSION or id."
    )


class CancelIn(_Strict):
    reason: str = Field(default="", max_length=2000)


class JobOut(BaseModel):
    id: str
    item_index: int
    task: str
    model_label: str
    state: JobState
    attempts: int
    samples_total: int | None
    samples_done: int
    samples_errored: int
    samples_running: int
    reruns: int
    retried_failures: dict[str, int]
    last_error: str
    started_at: datetime | None
    finished_at: datetime | None


class Progress(BaseModel):
    """Counts over every job of a campaign, and the time it is expected to need still."""

    jobs_total: int
    jobs_done: int
    samples_total: int | None = Field(description="Null until every job knows its sample count.")
    samples_done: int
    samples_errored: int
    samples_running: int
    errors_by_class: dict[str, int]
    reruns: int
    retried_failures: dict[str, int]
    fraction_done: float
    eta_seconds: float | None
    eta: datetime | None


class CampaignOut(BaseModel):
    id: str
    submission_id: str
    plan_id: str
    plan_name: str
    plan_version: int
    state: CampaignState
    reason: str
    at_risk: bool
    estimated_seconds: float
    estimate_source: str
    seeds: dict[str, Any] = Field(description="Seeds drawn per suite item (by item index).")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    waiting_for_window: datetime | None = Field(
        description="Set while the campaign waits for its submission's window to open."
    )
    progress: Progress
    jobs: list[JobOut]


class SampleResultOut(BaseModel):
    job_id: str = Field(description="The job that ran it (for its transcript and logs).")
    item_index: int = Field(description="The plan item it belongs to.")
    task: str
    sample_id: str
    epoch: int
    model_label: str
    model: str
    family: str | None
    category: str | None
    level: int | None
    seed: int | None
    score: float | None
    answer: str | None
    input_tokens: int
    output_tokens: int
    total_tokens: int
    total_cost: float | None = Field(
        description="US dollars, as Inspect priced the calls; null when the model has no price."
    )
    total_time: float | None
    working_time: float | None
    error_class: ErrorClass
    error_message: str


class WorkerOutcome(BaseModel):
    """What one pass of a worker did (for `predeploy worker --once --json`)."""

    job_id: str | None
    outcome: Literal["idle", "succeeded", "failed", "cancelled", "released", "refused"]
    message: str = ""


IDENTITY_START_INDEX = -2
"""The `item_index` of a campaign's opening identity probes (claimed before any plan item)."""
IDENTITY_END_INDEX = -1
"""The `item_index` of its closing identity probes (held until every other job has ended)."""


def reference_model_label(label: str) -> str:
    """The model label of a plan's reference model `label` on its jobs and results (the target's
    samples carry the access variant's label)."""
    return f"reference:{label}"
