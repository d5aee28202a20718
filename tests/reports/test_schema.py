"""The report's published JSON Schema: up to date, and every issued report is valid against it."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
from typer.testing import CliRunner

from predeploy.cli import app
from predeploy.reports.schemas import REPORT_SCHEMA_ID, report_json_schema
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
