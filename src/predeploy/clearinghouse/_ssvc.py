"""SSVC Coordinator Triage, through CERT/CC's `certcc-ssvc` package.

The decision points, their values and the table that maps each combination of values to
Decline / Track / Coordinate all come from the package (`ssvc.decision_tables.ssvc.coord_triage`,
its latest version); nothing here restates them.

Input form: one value per decision point, keyed by the decision point's key ("RP", "SCON",
"RC", "SC", "SE", "U", "PSI") and given as the value's key ("Y", "N", "NC", ...), both exactly
as the package spells them (case-sensitive). The table fixes each decision point's namespace
and version, so the key alone is unambiguous; the full ids ("ssvc:RP:1.0.0") are in the output.

`import ssvc` imports every module of the package and builds and checks every decision table it
ships (pandas, scikit-learn, SciPy, NetworkX): seconds of work. It happens on the first call of
a function here, once per process, so importing this module stays cheap.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from ..errors import InvalidInput

FIELD_PREFIX = "ssvc"


@dataclass(frozen=True)
class DecisionPointValueInfo:
    """One allowed value of a decision point (or an outcome)."""

    key: str
    name: str
    definition: str


@dataclass(frozen=True)
class DecisionPointInfo:
    """A decision point as the package defines it; `id` is `namespace:key:version`."""

    id: str
    namespace: str
    key: str
    version: str
    name: str
    definition: str
    values: tuple[DecisionPointValueInfo, ...]

    def value(self, key: str) -> DecisionPointValueInfo | None:
        """The value with this key, or None."""
        return next((value for value in self.values if value.key == key), None)

    def allowed(self) -> str:
        """The allowed values for a message: `Y (Yes), N (No)`."""
        return ", ".join(f"{value.key} ({value.name})" for value in self.values)


@dataclass(frozen=True)
class TriageTableInfo:
    """The Coordinator Triage table: its identity, its input decision points and its outcome."""

    id: str
    namespace: str
    key: str
    version: str
    name: str
    decision_points: tuple[DecisionPointInfo, ...]
    outcome: DecisionPointInfo


@dataclass(frozen=True)
class TriageDecision:
    """The outcome of Coordinator Triage for one set of values.

    `inputs` maps each decision point key to the chosen value key, in the table's order.
    `selection_list` is an SSVC `SelectionList` (schema 2.0.0) as JSON: one selection per input
    decision point and a last one for the outcome, so the stored record carries the decision.
    """

    outcome: DecisionPointValueInfo
    outcome_point_id: str
    table_id: str
    table_key: str
    table_version: str
    inputs: dict[str, str]
    selection_list: dict[str, Any]


@functools.cache
def _package_table() -> Any:
    """The package's latest Coordinator Triage table, imported on first use."""
    with warnings.catch_warnings():
        # Importing ssvc warns about the package's own deprecated classes (DecisionPointGroup)
        # and, on pandas 3, about an option it sets: noise from inside the package.
        warnings.simplefilter("ignore", DeprecationWarning)
        from ssvc.decision_tables.ssvc import (  # type: ignore[import-untyped]
            coord_triage,
        )
    return coord_triage.LATEST


def _point_info(point: Any) -> DecisionPointInfo:
    return DecisionPointInfo(
        id=str(point.id),
        namespace=str(point.namespace),
        key=str(point.key),
        version=str(point.version),
        name=str(point.name),
        definition=str(point.definition),
        values=tuple(
            DecisionPointValueInfo(key=str(v.key), name=str(v.name), definition=str(v.definition))
            for v in point.values
        ),
    )


@functools.cache
def coordinator_triage_table() -> TriageTableInfo:
    """The Coordinator Triage table as plain records, built from the package's objects."""
    table = _package_table()
    return TriageTableInfo(
        id=str(table.id),
        namespace=str(table.namespace),
        key=str(table.key),
        version=str(table.version),
        name=str(table.name),
        decision_points=tuple(
            _point_info(point)
            for point_id, point in table.decision_points.items()
            if point_id != table.outcome
        ),
        outcome=_point_info(table.decision_points[table.outcome]),
    )


def triage_decision_points() -> list[DecisionPointInfo]:
    """The input decision points of Coordinator Triage, in the table's order."""
    return list(coordinator_triage_table().decision_points)


@functools.cache
def _outcome_by_row() -> dict[tuple[str, ...], str]:
    """The package's mapping: value keys in decision-point order -> outcome value key."""
    table = _package_table()
    ids = [point.id for point in coordinator_triage_table().decision_points]
    return {tuple(row[i] for i in ids): row[table.outcome] for row in table.mapping}


def _normalise(values: Mapping[str, str], table: TriageTableInfo) -> dict[str, str]:
    """Check the analyst's values against the table; return them keyed as the table orders them."""
    known = {point.key for point in table.decision_points}
    for given in values:
        if given not in known:
            expected = ", ".join(f"{p.key} ({p.name})" for p in table.decision_points)
            raise InvalidInput(
                f"{FIELD_PREFIX}.{given}: {given!r} is not a decision point of {table.name} "
                f"{table.version}; expected one value for each of: {expected}",
                field=f"{FIELD_PREFIX}.{given}",
            )
    inputs: dict[str, str] = {}
    for point in table.decision_points:
        field = f"{FIELD_PREFIX}.{point.key}"
        if point.key not in values:
            raise InvalidInput(
                f"{field}: missing a value for {point.name} ({point.id}); "
                f"allowed values: {point.allowed()}",
                field=field,
            )
        given_value = values[point.key]
        if not isinstance(given_value, str) or point.value(given_value) is None:
            raise InvalidInput(
                f"{field}: {given_value!r} is not a valid value of {point.name} ({point.id}); "
                f"allowed values (by key): {point.allowed()}",
                field=field,
            )
        inputs[point.key] = given_value
    return inputs


def _selection_list(
    chosen: Sequence[tuple[DecisionPointInfo, str]],
    evaluated_at: datetime,
    target_ids: Sequence[str],
) -> dict[str, Any]:
    """An SSVC SelectionList, built and validated by the package, as schema-valid JSON."""
    from ssvc.selection import Selection, SelectionList  # type: ignore[import-untyped]

    data: dict[str, Any] = {
        "timestamp": evaluated_at,
        "selections": [
            Selection(
                namespace=point.namespace,
                key=point.key,
                version=point.version,
                name=point.name,
                values=[{"key": value_key}],
            )
            for point, value_key in chosen
        ],
    }
    if target_ids:
        data["target_ids"] = list(target_ids)
    try:
        selection_list = SelectionList(**data)
    except ValidationError as exc:
        raise InvalidInput(f"target_ids: {exc.errors()[0]['msg']}", field="target_ids") from None
    # The published schema types the optional name/definition as strings, so unset ones
    # must be left out rather than written as null.
    dumped: dict[str, Any] = selection_list.model_dump(mode="json", exclude_none=True)
    return dumped


def decide_coordinator_triage(
    values: Mapping[str, str],
    *,
    evaluated_at: datetime | None = None,
    target_ids: Sequence[str] = (),
) -> TriageDecision:
    """Decide Decline / Track / Coordinate for a report from the package's triage table.

    `values` has exactly one entry per decision point: decision point key -> value key, e.g.
    `{"RP": "N", "SCON": "Y", "RC": "C", "SC": "M", "SE": "A", "U": "S", "PSI": "S"}`.
    An unknown or missing decision point, or a value that is not one of its keys, raises
    `InvalidInput` with field `ssvc.<KEY>` and the allowed choices in the message.
    `evaluated_at` (timezone-aware, default now) and `target_ids` (e.g. the report's and the
    CVE's ids) go into the SelectionList.
    """
    if evaluated_at is None:
        evaluated_at = datetime.now(UTC)
    elif evaluated_at.tzinfo is None:
        raise InvalidInput("evaluated_at: must be timezone-aware", field="evaluated_at")
    table = coordinator_triage_table()
    inputs = _normalise(values, table)
    outcome_key = _outcome_by_row()[tuple(inputs.values())]
    outcome = table.outcome.value(outcome_key)
    # The package validates that its mapping only uses the outcome's own values.
    assert outcome is not None
    chosen = [(point, inputs[point.key]) for point in table.decision_points]
    chosen.append((table.outcome, outcome_key))
    return TriageDecision(
        outcome=outcome,
        outcome_point_id=table.outcome.id,
        table_id=table.id,
        table_key=table.key,
        table_version=table.version,
        inputs=inputs,
        selection_list=_selection_list(chosen, evaluated_at, target_ids),
    )


def coordinator_triage_record(
    values: Mapping[str, str], *, evaluated_at: datetime | None = None
) -> dict[str, Any]:
    """The Coordinator Triage decision for `values` as reports and case vulnerabilities store it:
    the outcome, the table's identity and version, the inputs and the SSVC SelectionList."""
    decision = decide_coordinator_triage(values, evaluated_at=evaluated_at)
    return {
        "decision": "coordinator_triage",
        "outcome": decision.outcome.name,
        "outcome_key": decision.outcome.key,
        "outcome_id": decision.outcome_point_id,
        "table": decision.table_id,
        "table_version": decision.table_version,
        "inputs": decision.inputs,
        "selection_list": decision.selection_list,
    }
