"""`predeploy fingerprint compute` and `predeploy fingerprint compare`, through the real CLI."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from predeploy.cli import app
from predeploy.identity import FingerprintRef, IdentityRecord, fingerprint_of
from predeploy.testing import FakeOpenAIServer, Faults

from .conftest import CHANGED_ANSWERS, CHANGED_PROBES, KEY, MODEL

runner = CliRunner()
KEY_ENV = "PREDEPLOY_TEST_FP_KEY"


@pytest.fixture(autouse=True)
def key_in_env(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    monkeypatch.setenv(KEY_ENV, KEY)
    caplog.set_level(logging.DEBUG)
    yield
    assert KEY not in caplog.text, "the API key reached the logs"


def invoke(*args: str) -> Result:
    result = runner.invoke(app, ["fingerprint", *args])
    assert KEY not in result.output, "the API key was printed"
    return result


def endpoint(server: FakeOpenAIServer) -> list[str]:
    return ["--base-url", server.base_url, "--api-key-env", KEY_ENV]


def compute_json(server: FakeOpenAIServer, path: Path) -> dict[str, Any]:
    result = invoke("compute", MODEL, *endpoint(server), "--json")
    assert result.exit_code == 0, result.output
    path.write_text(result.stdout)
    return dict(json.loads(result.stdout))


def test_compute_json_stays_parseable_when_inspect_prints_its_hooks_banner(
    fake: FakeOpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Inspect prints a banner on stdout the first time a process creates a model while any hook
    # is registered (the campaign runner registers one); the JSON document must not carry it.
    import inspect_ai.hooks._startup as inspect_startup

    import predeploy.campaigns._runner  # noqa: F401  (registers the runner's hook)

    monkeypatch.setattr(inspect_startup, "_registry_hooks_loaded", False)

    document = compute_json(fake, tmp_path / "fp.json")

    assert document["probe_set"] == "pd-probes-1"


def test_compute_json_has_the_fingerprint_probe_set_answers_and_hashes(
    fake: FakeOpenAIServer, tmp_path: Path
) -> None:
    document = compute_json(fake, tmp_path / "fp.json")

    assert {"fingerprint", "probe_set", "probe_set_sha256", "answers", "answer_hashes"} <= set(
        document
    )
    assert document["probe_set"] == "pd-probes-1"
    assert len(document["answers"]) == len(document["answer_hashes"]) == 100
    assert document["answers"]["p057"] == "france"
    assert document["failed"] == [] and document["model"] == MODEL
    assert document["settings"]["temperature"] == 0 and document["settings"]["connections"] == 16
    assert len(document["fingerprint"]) == 64


def test_compute_prints_a_summary_table(fake: FakeOpenAIServer) -> None:
    result = invoke("compute", MODEL, *endpoint(fake), "--connections", "8")

    assert result.exit_code == 0, result.output
    for text in ("fingerprint", "pd-probes-1", "100 of 100 probes", "8 connections", "none"):
        assert text in result.output


def test_compute_exits_1_listing_failed_probes_and_2_when_none_answered(
    fake: FakeOpenAIServer,
) -> None:
    # Neither Inspect nor the OpenAI client retries a malformed body, so these fail at once.
    fake.set_faults(Faults(rate=0.1, kinds=("malformed",), seed=1))
    partial = invoke("compute", MODEL, *endpoint(fake))
    assert partial.exit_code == 1, partial.output
    failed = [r for r in fake.requests if r.fault]
    assert failed and f"{100 - len(failed)} of 100 probes" in partial.output
    assert "JSONDecodeError" in partial.output

    fake.set_faults(Faults(rate=1.0, kinds=("malformed",)))
    nothing = invoke("compute", MODEL, *endpoint(fake))
    assert nothing.exit_code == 2, nothing.output
    assert "every probe failed" in nothing.output and "(field: INSPECT_MODEL)" in nothing.output


def test_compute_takes_the_key_from_the_environment_only(fake: FakeOpenAIServer) -> None:
    unset = invoke("compute", MODEL, "--base-url", fake.base_url, "--api-key-env", "NOT_SET_X")
    assert unset.exit_code == 2
    assert "environment variable NOT_SET_X is not set or empty" in unset.output
    assert "(field: --api-key-env)" in unset.output
    assert "--api-key " not in invoke("compute", "--help").output


def test_compare_exits_0_on_a_match_and_1_on_drift_naming_the_probes(
    fake: FakeOpenAIServer, tmp_path: Path
) -> None:
    path = tmp_path / "fp.json"
    compute_json(fake, path)

    same = invoke("compare", str(path), "--access-model", MODEL, *endpoint(fake))
    assert same.exit_code == 0, same.output
    assert "MATCH" in same.output and "100 of 100 probes agree" in same.output

    fake.set_script(CHANGED_ANSWERS)
    drift = invoke("compare", str(path), "--access-model", MODEL, *endpoint(fake))
    assert drift.exit_code == 1, drift.output
    assert "DRIFT" in drift.output and "80 of 100 probes agree" in drift.output
    assert all(probe in drift.output for probe in CHANGED_PROBES)

    as_json = invoke("compare", str(path), "--access-model", MODEL, *endpoint(fake), "--json")
    assert as_json.exit_code == 1
    body = json.loads(as_json.stdout)
    assert (body["verdict"], body["similarity"]) == ("drift", 0.8)
    assert [d["probe"] for d in body["comparison"]["differing"]] == CHANGED_PROBES
    assert body["observed"]["answers"]["p091"] == "frenchtranslate"


def test_compare_reports_a_different_model(tmp_path: Path) -> None:
    path = tmp_path / "expert.json"
    result = invoke("compute", "predeploy/scripted-expert", "--json")
    path.write_text(result.stdout)

    different = invoke("compare", str(path), "--access-model", "predeploy/scripted-novice")

    assert different.exit_code == 1, different.output
    assert "DIFFERENT" in different.output and "0 of 100 probes agree" in different.output
    assert "the first 25: --json lists all" in different.output


def report_with_variants(path: Path, fingerprint: dict[str, Any]) -> None:
    start = {k: fingerprint[k] for k in FingerprintRef.model_fields}
    records = [
        IdentityRecord.model_validate({"variant": label, "model": MODEL, "start": start})
        for label in ("production", "reduced-safeguards")
    ]
    path.write_text(json.dumps({"identity": [r.model_dump(mode="json") for r in records]}))


def test_compare_picks_a_report_variant(fake: FakeOpenAIServer, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    report_with_variants(report, compute_json(fake, tmp_path / "fp.json"))
    base = ["compare", str(report), "--access-model", MODEL, *endpoint(fake)]

    ambiguous = invoke(*base)
    assert ambiguous.exit_code == 2
    assert "several variants (production, reduced-safeguards)" in ambiguous.output
    assert "(field: --variant)" in ambiguous.output

    unknown = invoke(*base, "--variant", "staging")
    assert unknown.exit_code == 2
    assert "no fingerprint for variant 'staging'" in unknown.output

    chosen = invoke(*base, "--variant", "production")
    assert chosen.exit_code == 0, chosen.output
    assert "production" in chosen.output and "MATCH" in chosen.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read"),
        ("{not json", "is not JSON"),
        ('{"title": "a report without identity"}', "neither a `predeploy fingerprint compute"),
        ('{"identity": [{"variant": "p"}]}', "identity[0].model: Field required"),
        ('{"identity": []}', "holds no fingerprint"),
    ],
)
def test_compare_exits_2_on_an_unusable_file(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "input.json"
    if content is not None:
        path.write_text(content)

    result = invoke("compare", str(path), "--access-model", "predeploy/scripted-expert")

    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "(field: REPORT_OR_FINGERPRINT)" in result.output


def test_compare_exits_2_on_an_unknown_probe_set(fake: FakeOpenAIServer, tmp_path: Path) -> None:
    document = compute_json(fake, tmp_path / "fp.json")
    start = {k: document[k] for k in FingerprintRef.model_fields} | {"probe_set": "pd-probes-9"}
    start["fingerprint"] = fingerprint_of("pd-probes-9", start["answer_hashes"])
    path = tmp_path / "old.json"
    path.write_text(json.dumps(start))

    result = invoke("compare", str(path), "--access-model", MODEL, *endpoint(fake))

    assert result.exit_code == 2
    assert "unknown probe set 'pd-probes-9'" in result.output


def test_compare_exits_2_when_the_endpoint_cannot_be_used(
    fake: FakeOpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "fp.json"
    compute_json(fake, path)

    monkeypatch.setenv("WRONG_KEY", KEY + "-wrong")
    wrong_key = invoke(
        "compare", str(path), "--access-model", MODEL, "--base-url", fake.base_url,
        "--api-key-env", "WRONG_KEY",
    )  # fmt: skip
    assert wrong_key.exit_code == 2, wrong_key.output
    assert "every probe failed" in wrong_key.output
    assert "AuthenticationError (HTTP 401)" in wrong_key.output
    assert "(field: --access-model)" in wrong_key.output
    assert KEY + "-wrong" not in wrong_key.output

    no_provider = invoke("compare", str(path), "--access-model", "no-such-provider/m")
    assert no_provider.exit_code == 2
    assert "cannot use model no-such-provider/m" in no_provider.output

    thresholds = invoke(
        "compare", str(path), "--access-model", MODEL, "--match-threshold", "0.5",
        "--drift-threshold", "0.6",
    )  # fmt: skip
    assert thresholds.exit_code == 2
    assert "cannot be above the match threshold" in thresholds.output
