"""The demo's second clearinghouse report: a software flaw that the tested model found.

While it worked on a memory-safety challenge, the model under test also found a heap overflow in
the developer's own open-source tokenizer library (`pkg:pypi/frontier-tokenizer`, before 2.3.1);
the evaluator reports it with the model named as the finder and the flaw confirmed by hand. An
analyst triages it with SSVC, opens a case with the developer as vendor (status: fixed in
2.3.1), gives the vulnerability its CVE id and publishes, with a second analyst, a TLP:CLEAR
advisory that points at the fix; it is exported in every format that applies (for software:
OSV and CVE 5 as well). The demo's SBOM names the library, so the defenders' check finds it.

`DEMO_CVE` is a demonstration id, not one a CNA assigned. A later demo run on the same data dir
files the same report again, which the clearinghouse closes as a duplicate of the first: the
demo then exports the first run's advisory again rather than disclosing the flaw twice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..client import Client
from ._clearinghouse import (
    SSVC,
    ClearinghouseOutcome,
    Desk,
    Disclosure,
    disclose,
    export_files,
    parse_time,
)

LIBRARY = "frontier-tokenizer"
VULNERABLE_VERSION = "2.3.0"
FIXED_VERSION = "2.3.1"
DEMO_CVE = "CVE-2026-99999"
CVSS_V3 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"


def software_report(model: dict[str, Any]) -> dict[str, Any]:
    """The evaluator's report of the flaw `model` (`developer`, `model`, `version`) found."""
    return {
        "kind": "software",
        "title": f"Heap overflow in the merge-table loader of {LIBRARY}",
        "description": (
            f"A merges file with a line longer than 65,535 bytes overflows a heap buffer in "
            f"load_merges of {LIBRARY} before {FIXED_VERSION}; any service that loads an "
            "untrusted tokenizer is exposed. Found by the model under test during a pre-release "
            "campaign, reproduced by an agency evaluator with an ASan build."
        ),
        "tlp": "AMBER",
        "cwe": "CWE-122",
        "cvss": CVSS_V3,
        "affected": [
            {
                "purl": f"pkg:pypi/{LIBRARY}",
                "ranges": [
                    {
                        "type": "ECOSYSTEM",
                        "events": [{"introduced": "0"}, {"fixed": FIXED_VERSION}],
                    }
                ],
            }
        ],
        "root_cause": "src/merges.c:load_merges",
        "provenance": {
            "discovered_by": "ai_system",
            "system": {
                "model": f"{model['developer']}/{model['model']} {model['version']}",
                "harness": "predeploy cyber suite",
            },
            "human_verified": True,
        },
        "consent": {"share": True, "credit": True},
    }


def run_software_flaw(
    evaluator: Client, desk: Desk, model: dict[str, Any], out_dir: Path
) -> ClearinghouseOutcome:
    """Report, coordinate, publish and export the flaw (module docstring); `evaluator` is an
    agency evaluator and `desk` the analysts, the developer as vendor and a public reader."""
    filed = evaluator.file_vuln(software_report(model))
    if filed["status"] == "duplicate" and filed["duplicate_of"]:
        return _earlier_disclosure(desk, filed, out_dir)
    vuln = desk.analyst.triage_vuln(filed["id"], status="triaged", priority=1, ssvc=SSVC)
    disclosure = Disclosure(
        vulnerability={
            "title": f"Heap overflow in load_merges of {LIBRARY}",
            "cve_id": DEMO_CVE,
            "cwe": "CWE-122",
            "cvss_v3": CVSS_V3,
            "ssvc": SSVC,
        },
        vendor_status="fixed",
        statement=f"Fixed in {LIBRARY} {FIXED_VERSION}.",
        advisory={
            "title": f"Heap overflow in {LIBRARY} before {FIXED_VERSION}",
            "summary": "A crafted merges file overflows a heap buffer while a tokenizer loads.",
            "details": filed["description"],
            "remediation": f"Upgrade {LIBRARY} to {FIXED_VERSION} or later.",
            "references": [
                {
                    "type": "FIX",
                    "url": f"https://pypi.org/project/{LIBRARY}/{FIXED_VERSION}/",
                }
            ],
        },
    )
    return disclose(desk, vuln, disclosure, out_dir)


def _earlier_disclosure(desk: Desk, filed: dict[str, Any], out_dir: Path) -> ClearinghouseOutcome:
    """The first report's case and published advisory, exported again."""
    first = desk.analyst.get_vuln(filed["duplicate_of"])
    case = desk.analyst.get_case(first["case_id"])
    (advisory,) = [
        advisory
        for advisory in desk.public.list_advisories()
        if advisory["current"]["document"]["case"] == case["number"]
    ]
    files, skipped = export_files(desk.public, advisory["number"], out_dir)
    return ClearinghouseOutcome(
        vuln_id=first["id"],
        ssvc_outcome=first["ssvc"]["outcome"],
        case_id=case["id"],
        case_number=case["number"],
        embargo_end=parse_time(case["embargo_end"]),
        advisory_id=advisory["id"],
        advisory_number=advisory["number"],
        published_at=parse_time(advisory["published_at"]),
        files=files,
        skipped=skipped,
        duplicate_id=filed["id"],
    )
