"""The report's published JSON Schema: up to date, and every issued report is valid against it."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
from typer.testing import CliRunner

from predeploy.cli import app
from predeploy.reports.schemas import REPORT_SCHEMA_ID, REPORT_SCHEMA_IDS, report_json_schema
from tests.reports.factories import report_document

PUBLISHED = Path(__file__).parents[2] / "docs" / "report.schema.json"


def test_the_published_schema_is_the_one_predeploy_writes() -> None:
    published = json.loads(PUBLISHED.read_text())
    assert published == report_json_schema(), (
        "docs/report.schema.json is stale: run `predeploy report schema > docs/report.schema.json`"
    )
    assert published["$id"] == REPORT_SCHEMA_ID
    printed = CliRunner().invoke(app, ["report", "schema"])
    assert printed.exit_code == 0 and json.loads(printed.stdout) == published


def test_a_report_document_is_valid_and_a_broken_one_is_not() -> None:
    schema = json.loads(PUBLISHED.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    document = report_document().to_json()
    assert document["$schema"] == REPORT_SCHEMA_ID
    assert list(validator.iter_errors(document)) == []
    broken = {**document, "report": {**document["report"], "status": "final"}}
    assert any(
        e.path and list(e.path)[:2] == ["report", "status"] for e in validator.iter_errors(broken)
    )
    assert list(validator.iter_errors({**document, "surprise": 1}))


def test_every_published_schema_is_one_a_report_may_name() -> None:
    published = {
        json.loads(path.read_text())["$id"] for path in PUBLISHED.parent.glob("report*.schema.json")
    }
    assert published == REPORT_SCHEMA_IDS
    assert REPORT_SCHEMA_ID == "https://predeploy.dev/schemas/report/3.json"


def test_schema_1_stays_as_published_and_a_current_report_is_not_valid_under_it() -> None:
    # Schema 1 forbids unknown fields: the fields schema 2 added are why it is a new version.
    v1 = json.loads((PUBLISHED.parent / "report-1.schema.json").read_text())
    assert v1["$id"] == "https://predeploy.dev/schemas/report/1.json"
    window = v1["$defs"]["Window"]
    assert window["additionalProperties"] is False and "window_start" not in window["properties"]
    current = report_document().to_json()
    errors = list(jsonschema.Draft202012Validator(v1).iter_errors(current))
    assert any("window_start" in error.message for error in errors)


def test_schema_2_stays_as_published_and_a_current_report_is_not_valid_under_it() -> None:
    # Schema 3 added the safeguards and identity sections: under schema 2 they are unknown.
    v2 = json.loads((PUBLISHED.parent / "report-2.schema.json").read_text())
    assert v2["$id"] == "https://predeploy.dev/schemas/report/2.json"
    assert "safeguards" not in v2["properties"] and "identity" not in v2["properties"]
    current = report_document().to_json()
    errors = list(jsonschema.Draft202012Validator(v2).iter_errors(current))
    assert any("safeguards" in error.message for error in errors)
