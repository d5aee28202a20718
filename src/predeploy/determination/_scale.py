"""The capability scale: levels C0-C4, what each means, and machine-checkable criteria.

A scale is YAML validated into pydantic models; every error names its field path, e.g.
`levels.2.criteria.0.threshold: Input should be less than or equal to 1`.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Literal, get_args

import yaml  # type: ignore[import-untyped]
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from ..canonical import digest
from ..errors import InvalidInput, first_validation_error
from ..suite import LEVELS, Category

CATEGORIES: tuple[str, ...] = get_args(Category)
"""The suite's categories, in the suite's order: the only ones a criterion may name."""

LEVEL_IDS: tuple[str, ...] = ("C0", "C1", "C2", "C3", "C4")

DEFAULT_SCALE = "default_scale.yaml"

_ID_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"


def _rule(path: str, message: str) -> PydanticCustomError:
    """A validation error at `path` below the model that raises it (joined on in `_describe`)."""
    return PydanticCustomError(
        "scale_rule", "{path}: {message}", {"path": path, "message": message}
    )


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Framework(_Strict):
    """A published framework the scale interprets, cited by name, version and date."""

    id: str = Field(pattern=_ID_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    version: str = Field(min_length=1, max_length=100)
    published: str = Field(min_length=1, max_length=100)
    url: str | None = Field(default=None, max_length=500)
    verified: bool
    """Whether our reading was checked against the primary text (not a secondary summary)."""
    note: str = Field(default="", max_length=2000)


class Criterion(_Strict):
    """One machine-checkable condition on the suite's solve rates at one suite level.

    `categories` is a list of suite categories or `any` (every category of the suite).
    `aggregate: each` (default) needs `min_categories` of them (default: all listed; 1 for `any`)
    to reach the threshold one by one; `aggregate: pooled` pools their attempts into one rate.
    """

    id: str = Field(pattern=_ID_PATTERN)
    description: str = Field(min_length=1, max_length=2000)
    metric: Literal["solve_rate"] = "solve_rate"
    level: int = Field(ge=min(LEVELS), le=max(LEVELS))
    categories: Literal["any"] | list[Category]
    aggregate: Literal["each", "pooled"] = "each"
    min_categories: int | None = Field(default=None, ge=1)
    threshold: float = Field(ge=0.0, le=1.0)

    @field_validator("categories", mode="before")
    @classmethod
    def _known_categories(cls, value: Any) -> Any:
        if value == "any":
            return value
        if not isinstance(value, list) or not value:
            raise _rule("", "expected 'any' or a non-empty list of categories")
        seen: set[str] = set()
        for index, name in enumerate(value):
            if name not in CATEGORIES:
                raise _rule(
                    str(index), f"unknown category {name!r}; known: {', '.join(CATEGORIES)}"
                )
            if name in seen:
                raise _rule(str(index), f"category {name!r} is listed twice")
            seen.add(name)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Criterion:
        if self.aggregate == "pooled" and self.min_categories is not None:
            raise _rule(
                "min_categories", "only an 'each' criterion counts categories; pooled has one rate"
            )
        if self.min_categories is not None and self.min_categories > len(self.candidates):
            raise _rule(
                "min_categories",
                f"{self.min_categories} exceeds the {len(self.candidates)} categories listed",
            )
        return self

    @property
    def candidates(self) -> tuple[str, ...]:
        """The categories the criterion reads, in the suite's order for `any`."""
        return CATEGORIES if self.categories == "any" else tuple(self.categories)

    @property
    def required(self) -> int:
        """How many rates must reach the threshold: 1 when pooled."""
        if self.aggregate == "pooled":
            return 1
        if self.min_categories is not None:
            return self.min_categories
        return 1 if self.categories == "any" else len(self.categories)


class Level(_Strict):
    """One level of the scale; `require` says whether all or any of its criteria must hold."""

    id: str
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(min_length=1, max_length=4000)
    framework_mapping: dict[str, str]
    """Free text per framework id: how we read this level against that framework."""
    require: Literal["all", "any"] = "all"
    criteria: list[Criterion] = Field(default_factory=list)


class CapabilityScale(_Strict):
    """A capability scale: its frameworks and levels C0..C4, lowest first."""

    id: str = Field(pattern=_ID_PATTERN)
    version: int = Field(ge=1)
    domain: Literal["cyber"]
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(min_length=1, max_length=4000)
    frameworks: list[Framework] = Field(min_length=1)
    levels: list[Level]

    @model_validator(mode="after")
    def _structure(self) -> CapabilityScale:
        framework_ids: list[str] = []
        for index, framework in enumerate(self.frameworks):
            if framework.id in framework_ids:
                raise _rule(f"frameworks.{index}.id", f"duplicate framework id {framework.id!r}")
            framework_ids.append(framework.id)
        if len(self.levels) != len(LEVEL_IDS):
            raise _rule(
                "levels",
                f"expected {len(LEVEL_IDS)} levels, C0..C4 in order; got {len(self.levels)}",
            )
        criterion_paths: dict[str, str] = {}
        for index, (level, expected) in enumerate(zip(self.levels, LEVEL_IDS, strict=True)):
            where = f"levels.{index}"
            if level.id != expected:
                raise _rule(
                    f"{where}.id", f"expected {expected!r} (C0..C4 in order); got {level.id!r}"
                )
            if index == 0 and level.criteria:
                raise _rule(f"{where}.criteria", "C0 is the baseline and takes no criteria")
            if index > 0 and not level.criteria:
                raise _rule(f"{where}.criteria", f"{level.id} needs at least one criterion")
            for name in level.framework_mapping:
                if name not in framework_ids:
                    raise _rule(
                        f"{where}.framework_mapping.{name}",
                        f"unknown framework; declared: {', '.join(framework_ids)}",
                    )
            for name in framework_ids:
                if not level.framework_mapping.get(name, "").strip():
                    raise _rule(f"{where}.framework_mapping", f"no text for framework {name!r}")
            for position, criterion in enumerate(level.criteria):
                path = f"{where}.criteria.{position}.id"
                if criterion.id in criterion_paths:
                    raise _rule(
                        path,
                        f"duplicate criterion id {criterion.id!r} (also {criterion_paths[criterion.id]})",
                    )
                criterion_paths[criterion.id] = path
        return self

    def digest(self) -> str:
        """SHA-256 of the scale's canonical JSON: which scale a determination used."""
        return digest(self.model_dump(mode="json"))


def validate_scale(data: object) -> CapabilityScale:
    """A CapabilityScale from parsed YAML or JSON; InvalidInput naming the first bad field."""
    if not isinstance(data, dict):
        raise InvalidInput(
            f"a scale is a mapping of id, version, levels, ...; got {type(data).__name__}"
        )
    try:
        return CapabilityScale.model_validate(data)
    except ValidationError as exc:
        raise first_validation_error(exc) from None


def parse_scale(source: str) -> CapabilityScale:
    """Parse and validate a scale written in YAML."""
    try:
        data = yaml.safe_load(source)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InvalidInput(f"the scale is not valid YAML{where}: {problem}") from None
    return validate_scale(data)


def load_scale(path: str | Path | None = None) -> CapabilityScale:
    """The scale in the YAML file at `path`, or the shipped default scale when `path` is None."""
    if path is None:
        source = (
            resources.files("predeploy.determination")
            .joinpath(DEFAULT_SCALE)
            .read_text(encoding="utf-8")
        )
        return parse_scale(source)
    try:
        source = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read the scale {str(path)!r}: {exc}", field="path") from None
    return parse_scale(source)
