"""SSVC Coordinator Triage through the certcc-ssvc package."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import jsonschema
import pytest

from predeploy.clearinghouse._ssvc import (
    coordinator_triage_table,
    decide_coordinator_triage,
    triage_decision_points,
)
from predeploy.errors import InvalidInput

WHEN = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
# Public, supplier contacted, credible, multiple suppliers, active, super effective, significant.
COORDINATE = {"RP": "N", "SCON": "Y", "RC": "C", "SC": "M", "SE": "A", "U": "S", "PSI": "S"}


@pytest.fixture(scope="module")
def package_table() -> Any:
    # Our loader first: it is the one that keeps the package's import-time warnings quiet.
    coordinator_triage_table()
    from ssvc.decision_tables.ssvc import coord_triage

    return coord_triage.LATEST


def _error(values: dict[str, Any]) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        decide_coordinator_triage(values, evaluated_at=WHEN)
    return caught.value


def test_ssvc_decisions_equal_the_package_table(package_table: Any) -> None:
    points = package_table.decision_points
    checked = set()
    for row in package_table.mapping:
        values = {points[i].key: v for i, v in row.items() if i != package_table.outcome}
        decision = decide_coordinator_triage(values, evaluated_at=WHEN)
        assert decision.outcome.key == row[package_table.outcome], values
        assert decision.inputs == values
        checked.add(tuple(sorted(values.items())))
    # Every combination of the exposed values was looked up, so no valid input can miss.
    exposed = triage_decision_points()
    combinations = itertools.product(*[[v.key for v in p.values] for p in exposed])
    expected = {tuple(sorted(zip([p.key for p in exposed], c, strict=True))) for c in combinations}
    assert checked == expected


def test_all_three_outcomes_occur_with_their_names(package_table: Any) -> None:
    outcomes = {
        decide_coordinator_triage(
            {
                package_table.decision_points[i].key: v
                for i, v in row.items()
                if i != package_table.outcome
            },
            evaluated_at=WHEN,
        ).outcome.name
        for row in package_table.mapping
    }
    assert outcomes == {"Decline", "Track", "Coordinate"}


def test_decision_carries_table_identity_and_normalised_inputs(package_table: Any) -> None:
    decision = decide_coordinator_triage(COORDINATE, evaluated_at=WHEN)
    assert (decision.outcome.key, decision.outcome.name) == ("C", "Coordinate")
    assert decision.outcome_point_id == package_table.outcome == "ssvc:COORDINATE:1.0.1"
    assert decision.table_id == package_table.id
    assert decision.table_key == package_table.key
    assert decision.table_version == package_table.version
    assert list(decision.inputs) == ["RP", "SCON", "RC", "SC", "SE", "U", "PSI"]


def test_selection_list_is_schema_valid_ssvc_json() -> None:
    from ssvc.selection import SelectionList

    decision = decide_coordinator_triage(
        COORDINATE, evaluated_at=WHEN, target_ids=["PD-VULN-1", "CVE-2026-0001"]
    )
    exported = json.loads(json.dumps(decision.selection_list))
    jsonschema.Draft202012Validator(SelectionList.model_json_schema()).validate(exported)
    parsed = SelectionList.model_validate(exported)
    assert parsed.timestamp == WHEN
    assert parsed.target_ids == ["PD-VULN-1", "CVE-2026-0001"]
    chosen = {
        f"{s.namespace}:{s.key}:{s.version}": [v.key for v in s.values] for s in parsed.selections
    }
    expected = {p.id: [COORDINATE[p.key]] for p in triage_decision_points()}
    expected["ssvc:COORDINATE:1.0.1"] = ["C"]
    assert chosen == expected


def test_target_ids_must_be_unique() -> None:
    with pytest.raises(InvalidInput) as caught:
        decide_coordinator_triage(COORDINATE, evaluated_at=WHEN, target_ids=["A", "A"])
    assert caught.value.field == "target_ids"


def test_unknown_decision_point_names_it_and_lists_the_expected_ones() -> None:
    error = _error({**COORDINATE, "EXPL": "A"})
    assert error.field == "ssvc.EXPL"
    assert "'EXPL' is not a decision point of Coordinator Triage" in error.message
    for point in triage_decision_points():
        assert f"{point.key} ({point.name})" in error.message


def test_full_ids_are_not_accepted_as_keys() -> None:
    values = {k: v for k, v in COORDINATE.items() if k != "RP"} | {"ssvc:RP:1.0.0": "N"}
    assert _error(values).field == "ssvc.ssvc:RP:1.0.0"


def test_missing_decision_point_names_it_and_lists_its_values() -> None:
    error = _error({k: v for k, v in COORDINATE.items() if k != "SE"})
    assert error.field == "ssvc.SE"
    assert error.message.startswith(
        "ssvc.SE: missing a value for Supplier Engagement (ssvc:SE:1.0.0)"
    )
    assert "A (Active), U (Unresponsive)" in error.message


@pytest.mark.parametrize("bad", ["Q", "Yes", "y", "", None, 1])
def test_value_not_allowed_names_the_point_and_lists_allowed_values(bad: Any) -> None:
    error = _error({**COORDINATE, "RP": bad})
    assert error.field == "ssvc.RP"
    assert f"{bad!r} is not a valid value of Report Public (ssvc:RP:1.0.0)" in error.message
    assert "Y (Yes), N (No)" in error.message


def test_naive_timestamp_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        decide_coordinator_triage(COORDINATE, evaluated_at=datetime(2026, 11, 30, 12, 0))
    assert caught.value.field == "evaluated_at"


def test_exposed_decision_points_match_the_package(package_table: Any) -> None:
    def as_tuple(point: Any) -> tuple[Any, ...]:
        values = tuple((v.key, v.name, v.definition) for v in point.values)
        return (
            point.id,
            point.namespace,
            point.key,
            point.version,
            point.name,
            point.definition,
            values,
        )

    package_inputs = [
        p for i, p in package_table.decision_points.items() if i != package_table.outcome
    ]
    assert [as_tuple(p) for p in triage_decision_points()] == [as_tuple(p) for p in package_inputs]
    assert [p.id for p in triage_decision_points()][:2] == ["ssvc:RP:1.0.0", "ssvc:SCON:1.0.0"]
    # The input form is keyed by decision point key, so keys must be unique within the table.
    assert len({p.key for p in triage_decision_points()}) == len(package_inputs)

    table = coordinator_triage_table()
    assert as_tuple(table.outcome) == as_tuple(package_table.decision_points[package_table.outcome])
    assert [v.name for v in table.outcome.values] == ["Decline", "Track", "Coordinate"]
    assert (table.id, table.key, table.version, table.name) == (
        package_table.id,
        package_table.key,
        package_table.version,
        package_table.name,
    )


def test_callers_cannot_change_the_cached_decision_points() -> None:
    triage_decision_points().clear()
    assert len(triage_decision_points()) == 7


def test_importing_the_module_does_not_import_ssvc() -> None:
    code = "import sys, predeploy.clearinghouse._ssvc; print('ssvc' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == "False"
