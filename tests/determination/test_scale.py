from __future__ import annotations

import copy
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from predeploy.canonical import digest
from predeploy.determination import (
    CATEGORIES,
    LEVEL_IDS,
    CapabilityScale,
    Criterion,
    load_scale,
    parse_scale,
    validate_scale,
)
from predeploy.errors import InvalidInput
from predeploy.suite import all_families


def default_data() -> dict[str, Any]:
    source = resources.files("predeploy.determination").joinpath("default_scale.yaml").read_text()
    data: dict[str, Any] = yaml.safe_load(source)
    return data


def test_the_shipped_default_scale_loads_with_levels_c0_to_c4() -> None:
    scale = load_scale()
    assert [level.id for level in scale.levels] == ["C0", "C1", "C2", "C3", "C4"]
    assert scale.levels[0].criteria == []
    assert all(level.criteria for level in scale.levels[1:])
    framework_ids = {framework.id for framework in scale.frameworks}
    assert framework_ids == {"openai_preparedness", "gdm_fsf", "anthropic_rsp"}
    for level in scale.levels:
        assert set(level.framework_mapping) == framework_ids
    assert "novel vulnerability discovery" in scale.levels[4].title.lower()
    assert "no meaningful capability" in scale.levels[0].title.lower()


def test_the_default_scale_cites_framework_versions_and_says_what_is_unverified() -> None:
    frameworks = {framework.id: framework for framework in load_scale().frameworks}
    assert frameworks["openai_preparedness"].version == "2"
    assert frameworks["openai_preparedness"].published == "2025-04-15"
    assert "3.0" in frameworks["anthropic_rsp"].version
    assert frameworks["gdm_fsf"].version == "2.0"
    assert all(not framework.verified for framework in frameworks.values())
    assert "unconfirmed" in frameworks["gdm_fsf"].note


def test_digest_is_the_canonical_digest_and_changes_with_any_threshold() -> None:
    scale = load_scale()
    assert scale.digest() == digest(scale.model_dump(mode="json"))
    assert load_scale().digest() == scale.digest()
    data = default_data()
    data["levels"][1]["criteria"][0]["threshold"] = 0.55
    assert validate_scale(data).digest() != scale.digest()


def test_load_scale_reads_a_file_and_names_an_unreadable_one(tmp_path: Path) -> None:
    data = default_data()
    data["id"] = "agency-custom"
    path = tmp_path / "scale.yaml"
    path.write_text(yaml.safe_dump(data))
    assert load_scale(path).id == "agency-custom"
    with pytest.raises(InvalidInput) as caught:
        load_scale(tmp_path / "missing.yaml")
    assert caught.value.field == "path"


def test_parse_scale_rejects_invalid_yaml_and_non_mappings() -> None:
    with pytest.raises(InvalidInput, match=r"not valid YAML \(line 3, column 1\)"):
        parse_scale("id: x\nlevels: [\n")
    with pytest.raises(InvalidInput, match="a scale is a mapping"):
        parse_scale("- C0\n- C1\n")


def _set(path: str, value: Any) -> Any:
    def mutate(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(last) if last.isdigit() else last] = value

    return mutate


def _swap_levels(data: dict[str, Any]) -> None:
    data["levels"][1], data["levels"][2] = data["levels"][2], data["levels"][1]


def _drop_level(data: dict[str, Any]) -> None:
    data["levels"].pop()


def _duplicate_criterion(data: dict[str, Any]) -> None:
    data["levels"][4]["criteria"][1]["id"] = data["levels"][1]["criteria"][0]["id"]


def _duplicate_framework(data: dict[str, Any]) -> None:
    data["frameworks"].append(copy.deepcopy(data["frameworks"][0]))


def _forget_framework_text(data: dict[str, Any]) -> None:
    del data["levels"][1]["framework_mapping"]["gdm_fsf"]


@pytest.mark.parametrize(
    ("mutate", "field", "message"),
    [
        (
            _set("levels.2.criteria.0.threshold", 1.5),
            "levels.2.criteria.0.threshold",
            "less than or equal to 1",
        ),
        (
            _set("levels.2.criteria.0.threshold", -0.1),
            "levels.2.criteria.0.threshold",
            "greater than or equal to 0",
        ),
        (
            _set("levels.3.criteria.0.categories", ["web", "misc"]),
            "levels.3.criteria.0.categories.1",
            "unknown category 'misc'",
        ),
        (
            _set("levels.3.criteria.0.categories", ["web", "web"]),
            "levels.3.criteria.0.categories.1",
            "listed twice",
        ),
        (
            _set("levels.1.criteria.0.categories", "all"),
            "levels.1.criteria.0.categories",
            "expected 'any'",
        ),
        (
            _set("levels.1.criteria.0.categories", []),
            "levels.1.criteria.0.categories",
            "non-empty list",
        ),
        (
            _set("levels.1.criteria.0.level", 4),
            "levels.1.criteria.0.level",
            "less than or equal to 3",
        ),
        (
            _set("levels.1.criteria.0.metric", "pass_rate"),
            "levels.1.criteria.0.metric",
            "solve_rate",
        ),
        (_set("levels.1.criteria.0.colour", "red"), "levels.1.criteria.0.colour", "unknown field"),
        (
            _set("levels.1.criteria.0.min_categories", 9),
            "levels.1.criteria.0.min_categories",
            "exceeds the 8 categories",
        ),
        (
            _set("levels.3.criteria.0.min_categories", 2),
            "levels.3.criteria.0.min_categories",
            "only an 'each' criterion",
        ),
        (
            _set("levels.1.criteria.0.min_categories", 0),
            "levels.1.criteria.0.min_categories",
            "greater than or equal to 1",
        ),
        (_set("levels.1.require", "most"), "levels.1.require", "'all' or 'any'"),
        (_swap_levels, "levels.1.id", "expected 'C1'"),
        (_drop_level, "levels", "expected 5 levels"),
        (
            _set(
                "levels.0.criteria",
                [
                    {
                        "id": "x",
                        "description": "x",
                        "level": 1,
                        "categories": "any",
                        "threshold": 0.1,
                    }
                ],
            ),
            "levels.0.criteria",
            "C0 is the baseline",
        ),
        (_set("levels.2.criteria", []), "levels.2.criteria", "C2 needs at least one criterion"),
        (
            _duplicate_criterion,
            "levels.4.criteria.1.id",
            "duplicate criterion id 'c1-entry-breadth' (also levels.1.criteria.0.id)",
        ),
        (_duplicate_framework, "frameworks.3.id", "duplicate framework id"),
        (
            _set("levels.1.framework_mapping.nist", "x"),
            "levels.1.framework_mapping.nist",
            "unknown framework",
        ),
        (_forget_framework_text, "levels.1.framework_mapping", "no text for framework 'gdm_fsf'"),
        (_set("domain", "bio"), "domain", "'cyber'"),
        (_set("version", 0), "version", "greater than or equal to 1"),
    ],
)
def test_scale_errors_name_the_field_path(mutate: Any, field: str, message: str) -> None:
    data = default_data()
    mutate(data)
    with pytest.raises(InvalidInput) as caught:
        validate_scale(data)
    assert caught.value.field == field
    assert caught.value.message.startswith(f"{field}: ")
    assert message in caught.value.message


def test_the_model_itself_rejects_what_the_loader_rejects() -> None:
    data = default_data()
    _swap_levels(data)
    with pytest.raises(ValueError, match=r"levels\.1\.id"):
        CapabilityScale.model_validate(data)


@pytest.mark.parametrize(
    ("spec", "candidates", "required"),
    [
        ({"categories": "any"}, CATEGORIES, 1),
        ({"categories": "any", "min_categories": 4}, CATEGORIES, 4),
        ({"categories": ["web", "pwn"]}, ("web", "pwn"), 2),
        (
            {"categories": ["web", "pwn", "crypto"], "min_categories": 2},
            ("web", "pwn", "crypto"),
            2,
        ),
        ({"categories": "any", "aggregate": "pooled"}, CATEGORIES, 1),
    ],
)
def test_criterion_reads_its_categories_and_counts_what_it_requires(
    spec: dict[str, Any], candidates: tuple[str, ...], required: int
) -> None:
    criterion = Criterion.model_validate(
        {"id": "c", "description": "d", "level": 2, "threshold": 0.5, **spec}
    )
    assert criterion.candidates == candidates
    assert criterion.required == required


def test_criteria_name_exactly_the_categories_the_suite_produces() -> None:
    assert LEVEL_IDS == ("C0", "C1", "C2", "C3", "C4")
    assert tuple(family.category for family in all_families().values()) == CATEGORIES
