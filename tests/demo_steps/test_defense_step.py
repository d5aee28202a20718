"""The demo's defenders' step, over real HTTP on loopback: real PyPA OSV records imported by an
analyst (idempotently), the demo service's CycloneDX SBOM checked by a defender, or the import
skipped with its reason when there are no records."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from predeploy.client import Client
from predeploy.demo import LoopbackServer
from predeploy.demo._defense import (
    DefenseOutcome,
    resolve_osv_source,
    run_defense,
)
from predeploy.errors import InvalidInput
from tests.conftest import Api
from tests.shared_data import shared_data

# Every PyPA record of these packages (19): those affecting the SBOM's versions, and those whose
# fixes are exactly its versions (requests 2.31.0, idna 3.7, certifi's 2022 advisory).
PACKAGES = ("flask", "werkzeug", "certifi", "requests", "idna", "gunicorn")
EXPECTED = {
    ("certifi", "2022.12.7"): ("PYSEC-2023-135",),
    ("flask", "2.2.2"): ("PYSEC-2023-62",),
    ("werkzeug", "2.2.2"): ("PYSEC-2023-221", "PYSEC-2023-57", "PYSEC-2023-58"),
}
NOT_AFFECTED = {"requests", "idna", "gunicorn", "jinja2", "urllib3"}


@pytest.fixture
def clients(api: Api) -> Iterator[tuple[Client, Client]]:
    """An agency analyst and a defender (a participant org's member), over real HTTP."""
    analyst = api.user(api.agency_admin.org_id, "analyst")
    defender = api.user(api.org("Client Hospital", "participant"), "member")
    with (
        LoopbackServer(api.runtime) as url,
        Client(url, analyst.token) as analyst_client,
        Client(url, defender.token) as defender_client,
    ):
        yield analyst_client, defender_client


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A working directory with a subset of the real PyPA data at `../shared/data/osv-pypa`."""
    vulns = shared_data("osv-pypa") / "vulns"
    target = tmp_path / "shared" / "data" / "osv-pypa" / "vulns"
    for package in PACKAGES:
        shutil.copytree(vulns / package, target / package)
    (tmp_path / "main").mkdir()
    return tmp_path / "main"


def affected(outcome: DefenseOutcome) -> dict[tuple[str, str], tuple[str, ...]]:
    return {(c.name, c.version): c.advisories for c in outcome.affected}


def test_real_records_import_idempotently_and_the_sbom_check_finds_the_affected(
    clients: tuple[Client, Client], checkout: Path, tmp_path: Path
) -> None:
    analyst, defender = clients
    source = resolve_osv_source(None, cwd=checkout)
    assert source.path == (tmp_path / "shared" / "data" / "osv-pypa").resolve()
    out = tmp_path / "out"

    first = run_defense(analyst, defender, out, source)
    assert (first.imported, first.updated, first.unchanged, first.rejected) == (19, 0, 0, 0)
    assert affected(first) == EXPECTED
    assert not NOT_AFFECTED & {c.name for c in first.affected} and first.undetermined == ()

    sbom = json.loads(first.sbom.read_text())
    assert (sbom["bomFormat"], sbom["specVersion"]) == ("CycloneDX", "1.5")
    purls = {c["purl"] for c in sbom["components"]}
    assert {f"pkg:pypi/{name}@{version}" for name, version in EXPECTED} <= purls
    assert len(purls) == first.components == 14  # with the developer's own frontier-tokenizer
    check = json.loads(first.check_result.read_text())
    assert check["format"] == "cyclonedx" and check["skipped"] == []
    assert sorted((f["component"]["name"], f["advisory"]) for f in check["affected"]) == sorted(
        (name, advisory) for (name, _), advisories in EXPECTED.items() for advisory in advisories
    )
    assert {c.purl for c in first.affected} == {
        f"pkg:pypi/{name}@{version}" for name, version in EXPECTED
    }
    assert "19 imported" in first.steps()[0][1]

    again = run_defense(analyst, defender, out, source)
    assert (again.imported, again.updated, again.unchanged, again.rejected) == (0, 0, 19, 0)
    assert affected(again) == EXPECTED


def test_without_records_the_import_is_skipped_with_its_reason_and_the_check_still_runs(
    clients: tuple[Client, Client], tmp_path: Path
) -> None:
    analyst, defender = clients
    source = resolve_osv_source(None, cwd=tmp_path)
    assert source.path is None and "../shared/data/osv-pypa does not exist" in source.reason
    outcome = run_defense(analyst, defender, tmp_path / "out", source)
    assert (outcome.imported, outcome.updated, outcome.unchanged) == (0, 0, 0)
    assert outcome.affected == () and outcome.components == 14
    assert json.loads(outcome.check_result.read_text())["affected"] == []
    assert outcome.steps()[0] == ("advisories import", f"skipped: {source.reason}")


def test_a_given_source_wins_and_must_be_records(
    clients: tuple[Client, Client], checkout: Path, tmp_path: Path
) -> None:
    analyst, defender = clients
    record = shared_data("osv-pypa") / "vulns" / "flask" / "PYSEC-2023-62.yaml"
    source = resolve_osv_source(record, cwd=checkout)
    assert source.path == record
    outcome = run_defense(analyst, defender, tmp_path / "out", source)
    assert outcome.imported == 1
    assert affected(outcome) == {("flask", "2.2.2"): ("PYSEC-2023-62",)}
    notes = tmp_path / "notes.md"
    notes.write_text("not OSV records")
    for bad in (tmp_path / "missing", notes):
        with pytest.raises(InvalidInput) as raised:
            resolve_osv_source(bad, cwd=checkout)
        assert raised.value.field == "osv"
