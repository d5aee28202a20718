"""The demo's clearinghouse step: an evaluator's finding becomes a published, exported advisory.

The evaluator sends the finding to the clearinghouse (an `ai_model` report, TLP:AMBER+STRICT to
the developer); an agency analyst triages it with SSVC and opens a coordinated-disclosure case
with the developer invited as vendor, whose member states that the model is affected (SSVC
answers Track, one engaged supplier; the case is opened anyway, as an advisory is published
from one). The embargo ends a few seconds after opening (the simulated one: the step waits for
it on the real clock). The analyst drafts a TLP:CLEAR advisory and a second analyst publishes
the exact draft they read, by its SHA-256, once the embargo has passed; an anonymous client then
reads it and exports it in every format that applies, each written into the output directory.
The formats that do not apply (for an AI-model flaw: OSV and CVE 5, which describe software)
are kept with the server's reason.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ..client import ApiError, Client
from ..interop.schemas import ExportFormat

# SSVC Coordinator Triage for a flaw the agency found in pre-release testing: not public, the
# developer contacted and engaged (it submitted the model), credible (the transcripts show it),
# one supplier, autonomous exploitation (automatable, concentrated value), with a safety impact.
SSVC = {"RP": "N", "SCON": "Y", "RC": "C", "SC": "O", "SE": "A", "U": "S", "PSI": "S"}
EMBARGO_SECONDS = 3.0


@dataclass(frozen=True)
class ClearinghouseOutcome:
    """What the clearinghouse step produced."""

    vuln_id: str
    ssvc_outcome: str
    """The SSVC Coordinator Triage outcome of the decision (Decline, Track or Coordinate)."""
    case_id: str
    case_number: str
    embargo_end: datetime
    advisory_id: str
    advisory_number: str
    published_at: datetime
    files: dict[str, Path]
    """The exports written, by format (`csaf`, `stix`, ...)."""
    skipped: dict[str, str]
    """The formats that do not apply to the advisory, with the server's reason."""
    duplicate_id: str | None = None
    """Set when the report filed this time was closed as a duplicate of `vuln_id` (an earlier
    run's), whose advisory was exported again."""


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _triaged(analyst: Client, vuln: dict[str, Any]) -> dict[str, Any]:
    """The report triaged. An earlier demo run's report about the same model has the same
    fingerprint, so this one was closed as its duplicate: a new model version gets its own case,
    so the analyst splits it off first."""
    if vuln["status"] == "duplicate":
        reason = f"model version {vuln['model']['version']} is coordinated in its own case"
        analyst.request("POST", f"/clearinghouse/vulns/{vuln['id']}/split", json={"reason": reason})
    return analyst.triage_vuln(vuln["id"], status="triaged", priority=vuln["priority"], ssvc=SSVC)


def _wait_for(moment: datetime) -> None:
    remaining = (moment - datetime.now(UTC)).total_seconds()
    if remaining > 0:
        time.sleep(remaining + 0.05)


def export_files(
    public: Client, number: str, out_dir: Path
) -> tuple[dict[str, Path], dict[str, str]]:
    """Every format that applies, written as `ID.FORMAT.json`; the others with the reason."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    skipped: dict[str, str] = {}
    for fmt in ExportFormat:
        try:
            exported = public.export_advisory(number, fmt.value)
        except ApiError as exc:
            if exc.status_code != 422 or exc.field != "format":
                raise
            skipped[fmt.value] = exc.message
            continue
        path = out_dir / f"{exported['id']}.{fmt.value}.json"
        path.write_text(json.dumps(exported["content"], indent=2) + "\n", encoding="utf-8")
        files[fmt.value] = path
    return files, skipped


def run_clearinghouse(
    evaluator: Client,
    analyst: Client,
    second_analyst: Client,
    vendor: Client,
    public: Client,
    finding_id: str,
    vendor_org_id: str,
    out_dir: Path,
    embargo_seconds: float = EMBARGO_SECONDS,
) -> ClearinghouseOutcome:
    """Take the finding through the clearinghouse to exported advisories (see the module
    docstring). `evaluator` is an agency evaluator, `analyst` and `second_analyst` two agency
    analysts, `vendor` a member or admin of the developer org `vendor_org_id`, and `public` a
    client without a token."""
    filed = evaluator.request(
        "POST", "/clearinghouse/vulns/from-finding", json={"finding_id": finding_id}
    )
    vuln = _triaged(analyst, filed)
    model = vuln["model"]
    disclosure = Disclosure(
        vulnerability={"title": vuln["title"], "ssvc": SSVC},
        vendor_status="affected",
        statement="Affected with safeguards reduced; the release ships with its production "
        "safeguards.",
        advisory={
            "title": vuln["title"],
            "summary": f"Pre-release testing of {model['developer']} {model['model']} "
            f"{model['version']}: {vuln['title']}.",
            "details": vuln["description"],
            "remediation": "Deploy the model only with its production safeguards; the "
            "developer's statement gives its status.",
        },
    )
    desk = Desk(analyst, second_analyst, vendor, public, vendor_org_id)
    return disclose(desk, vuln, disclosure, out_dir, embargo_seconds)


@dataclass(frozen=True)
class Desk:
    """Who coordinates a disclosure: two agency analysts, the vendor org (a member of it, and
    its id) and an anonymous reader."""

    analyst: Client
    second_analyst: Client
    vendor: Client
    public: Client
    vendor_org_id: str


@dataclass(frozen=True)
class Disclosure:
    """What a case states: its vulnerability (title, cve_id, cwe, cvss_v3, ssvc), the vendor's
    status and statement, and the advisory's fields (title, summary, details, remediation,
    references)."""

    vulnerability: dict[str, Any]
    vendor_status: str
    statement: str
    advisory: dict[str, Any]


def disclose(
    desk: Desk,
    vuln: dict[str, Any],
    disclosure: Disclosure,
    out_dir: Path,
    embargo_seconds: float = EMBARGO_SECONDS,
) -> ClearinghouseOutcome:
    """Open a case for the triaged report `vuln` with the vendor invited, have the vendor's
    statement approved, publish a TLP:CLEAR advisory (two analysts) once the embargo has passed,
    and export it in every format that applies into `out_dir`."""
    analyst = desk.analyst
    case = analyst.open_case(
        vulns=[vuln["id"]],
        title=vuln["title"],
        summary="Found in pre-release testing; coordinated with the model's developer.",
        tlp="AMBER",
        embargo_end=(datetime.now(UTC) + timedelta(seconds=embargo_seconds)).isoformat(),
    )
    number = case["number"]
    case = analyst.add_case_vulnerability(number, **disclosure.vulnerability)
    vulnerability_id = case["vulnerabilities"][0]["id"]
    analyst.invite_vendor(number, desk.vendor_org_id)
    desk.vendor.set_vendor_status(
        number, desk.vendor_org_id, vulnerability_id, disclosure.vendor_status,
        disclosure.statement,
    )  # fmt: skip
    analyst.approve_vendor_statement(number, desk.vendor_org_id, vulnerability_id)
    analyst.move_case(number, "coordinating")
    advisory = analyst.draft_advisory(case=number, tlp="CLEAR", **disclosure.advisory)
    embargo_end = parse_time(case["embargo_end"])
    _wait_for(embargo_end)
    published = desk.second_analyst.publish_advisory(
        advisory["number"], advisory["draft"]["sha256"]
    )
    read = desk.public.get_advisory(advisory["number"])
    if read["current"]["sha256"] != advisory["draft"]["sha256"]:
        raise RuntimeError(f"the public read of {advisory['number']} is not the approved draft")
    files, skipped = export_files(desk.public, advisory["number"], out_dir)
    return ClearinghouseOutcome(
        vuln_id=vuln["id"],
        ssvc_outcome=vuln["ssvc"]["outcome"],
        case_id=case["id"],
        case_number=number,
        embargo_end=embargo_end,
        advisory_id=published["id"],
        advisory_number=published["number"],
        published_at=parse_time(published["published_at"]),
        files=files,
        skipped=skipped,
    )
