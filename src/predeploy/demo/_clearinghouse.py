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


def _when(value: str) -> datetime:
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


def _export(public: Client, number: str, out_dir: Path) -> tuple[dict[str, Path], dict[str, str]]:
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
    case = analyst.open_case(
        vulns=[vuln["id"]],
        title=vuln["title"],
        summary="Found in pre-release testing; coordinated with the model's developer.",
        tlp="AMBER",
        embargo_end=(datetime.now(UTC) + timedelta(seconds=embargo_seconds)).isoformat(),
    )
    number = case["number"]
    case = analyst.add_case_vulnerability(number, title=vuln["title"], ssvc=SSVC)
    vulnerability_id = case["vulnerabilities"][0]["id"]
    analyst.invite_vendor(number, vendor_org_id)
    vendor.set_vendor_status(
        number,
        vendor_org_id,
        vulnerability_id,
        "affected",
        "Affected with safeguards reduced; the release ships with its production safeguards.",
    )
    analyst.approve_vendor_statement(number, vendor_org_id, vulnerability_id)
    analyst.move_case(number, "coordinating")
    model = vuln["model"]
    advisory = analyst.draft_advisory(
        case=number,
        title=vuln["title"],
        summary=f"Pre-release testing of {model['developer']} {model['model']} "
        f"{model['version']}: {vuln['title']}.",
        details=vuln["description"],
        tlp="CLEAR",
        remediation="Deploy the model only with its production safeguards; the developer's "
        "statement gives its status.",
    )
    embargo_end = _when(case["embargo_end"])
    _wait_for(embargo_end)
    published = second_analyst.publish_advisory(advisory["number"], advisory["draft"]["sha256"])
    read = public.get_advisory(advisory["number"])
    if read["current"]["sha256"] != advisory["draft"]["sha256"]:
        raise RuntimeError(f"the public read of {advisory['number']} is not the approved draft")
    files, skipped = _export(public, advisory["number"], out_dir)
    return ClearinghouseOutcome(
        vuln_id=vuln["id"],
        ssvc_outcome=vuln["ssvc"]["outcome"],
        case_id=case["id"],
        case_number=number,
        embargo_end=embargo_end,
        advisory_id=published["id"],
        advisory_number=published["number"],
        published_at=_when(published["published_at"]),
        files=files,
        skipped=skipped,
    )
