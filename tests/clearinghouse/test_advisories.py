"""Advisories through the API and CLI: drafted from a case with defaults taken from it, published
by a second analyst who names the draft by its SHA-256, never before the embargo ends unless a
second analyst approved an override; revisions kept; public reads without a token; the
two-person rule as an audited admin setting; bad input; the audit log.

It proves threats T31 (embargoed content reaches the public early) and T35 (one analyst alone
publishes or ends an embargo) of `docs/threat-model.md`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from httpx2 import Response
from sqlalchemy import func, select

from predeploy.clearinghouse.models import Advisory, AdvisoryRevision
from predeploy.clock import FrozenClock
from tests.clearinghouse.conftest import SOFTWARE_VULN, Community, Run, body, cli_json
from tests.conftest import START, Caller

CASES = "/api/v1/clearinghouse/cases"
ADVISORIES = "/api/v1/clearinghouse/advisories"
V3 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
EMBARGO_END = START + timedelta(days=45)

CREDITED = body(SOFTWARE_VULN, consent={"share": True, "credit": True})


def _ok(response: Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    result: dict[str, Any] = response.json()
    return result


def _clock(community: Community) -> FrozenClock:
    clock = community.api.runtime.clock
    assert isinstance(clock, FrozenClock)
    return clock


def _second_analyst(community: Community) -> Caller:
    return community.api.user(community.api.agency_admin.org_id, "analyst")


def _coordinating_case(community: Community, vuln: dict[str, Any] | None = None) -> str:
    """A coordinating case with a CVE-numbered vulnerability, the vendor invited, and its status
    approved; the case's embargo ends at EMBARGO_END."""
    vuln = vuln or community.file(CREDITED)
    payload = {"vulns": [vuln["id"]], "title": "Heap overflow in libexample",
               "embargo_end": EMBARGO_END.isoformat()}  # fmt: skip
    case = _ok(community.post(community.analyst, CASES, payload), 201)
    path = f"{CASES}/{case['number']}"
    added = _ok(community.post(community.analyst, f"{path}/vulnerabilities",
                               {"title": "Overflow in parse_header", "cve_id": "CVE-2026-12345",
                                "cwe": "CWE-787", "cvss_v3": V3}), 201)  # fmt: skip
    vulnerability = added["vulnerabilities"][0]["id"]
    vendor = community.vendor.org_id
    _ok(community.post(community.analyst, f"{path}/vendors", {"org_id": vendor}), 201)
    _ok(community.post(community.vendor, f"{path}/vendors/{vendor}/status",
                       {"vulnerability_id": vulnerability, "status": "fixed",
                        "statement": "Fixed in 2.4.1."}))  # fmt: skip
    _ok(community.post(community.analyst, f"{path}/vendors/{vendor}/approve",
                       {"vulnerability_id": vulnerability}))  # fmt: skip
    _ok(community.post(community.analyst, f"{path}/state", {"state": "coordinating"}))
    number: str = case["number"]
    return number


def _draft(
    community: Community, case: str, caller: Caller | None = None, **fields: Any
) -> Response:
    payload = {"case": case, "title": "Heap overflow in libexample before 2.4.1",
               "summary": "A crafted header overflows a heap buffer.",
               "remediation": "Upgrade to 2.4.1.", **fields}  # fmt: skip
    return community.post(caller or community.analyst, ADVISORIES, payload)


def _audit(community: Community) -> list[dict[str, Any]]:
    response = community.get(community.api.agency_admin, "/api/v1/audit", limit=500)
    items: list[dict[str, Any]] = _ok(response)["items"]
    return items


def test_an_advisory_is_drafted_from_its_case_and_published_by_a_second_analyst(
    community: Community,
) -> None:
    case = _coordinating_case(community)
    drafted = _ok(_draft(community, case,
                         references=[{"type": "FIX", "url": "https://example.org/2.4.1"}]), 201)  # fmt: skip
    assert drafted["number"] == "PDXA-2026-0001" and drafted["current"] is None
    draft = drafted["draft"]
    document = draft["document"]
    assert (draft["number"], document["revision"], document["case"]) == (1, 1, case)
    assert document["aliases"] == ["CVE-2026-12345"]
    assert document["affected"] == [{
        "purl": "pkg:pypi/libexample", "cpe": None, "model": None, "versions": [],
        "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.4.1"}]}],
    }]  # fmt: skip
    assert document["vendor_statements"] == [{
        "vendor": "Vendor Only Inc", "vulnerability_id": document["vulnerabilities"][0]["id"],
        "status": "fixed", "statement": "Fixed in 2.4.1.",
    }]  # fmt: skip
    assert document["vulnerabilities"][0]["cvss_v3"]["base_score"] == 9.8
    assert document["credits"] == [
        {"name": "Reporter Lab", "type": "REPORTER", "contact": []},
        {"name": "acme/finder-2 (fuzz-agent)", "type": "TOOL", "contact": []},
        {"name": "Testing Agency", "type": "COORDINATOR", "contact": []},
    ]
    number = drafted["number"]

    # A draft is the agency's alone: no one else, with or without a token, sees it.
    for caller in (None, community.reporter, community.vendor, community.participant):
        assert community.get(caller, f"{ADVISORIES}/{number}").status_code == 404
        assert _ok(community.get(caller, ADVISORIES))["items"] == []

    publish = f"{ADVISORIES}/{number}/publish"
    own = community.post(community.analyst, publish, {"sha256": draft["sha256"]})
    assert own.status_code == 403 and "two-person rule" in own.json()["error"]["message"]
    second = _second_analyst(community)
    early = community.post(second, publish, {"sha256": draft["sha256"]})
    assert early.status_code == 409 and early.json()["error"]["field"] == "embargo_end"

    _clock(community).set(EMBARGO_END)
    stale = community.post(second, publish, {"sha256": "0" * 64})
    assert stale.status_code == 409 and stale.json()["error"]["field"] == "sha256"
    published = _ok(community.post(second, publish, {"sha256": draft["sha256"]}))
    assert published["draft"] is None and published["revisions"] == [1]
    assert published["current"]["approved_by"] == second.user_id
    assert published["current"]["author_id"] == community.analyst.user_id
    assert _ok(community.get(community.analyst, f"{CASES}/{case}"))["state"] == "disclosed"

    # Public: no token needed, and the people behind it are not named.
    public = _ok(community.get(None, f"{ADVISORIES}/{number}"))
    assert public["current"]["document"] == document
    assert public["current"]["sha256"] == draft["sha256"]
    assert (public["current"]["author_id"], public["current"]["approved_by"]) == (None, None)
    assert [a["number"] for a in _ok(community.get(None, ADVISORIES))["items"]] == [number]

    # A revision: drafted, invisible until published, and the first one is kept.
    _clock(community).advance(timedelta(days=1))
    revised = _ok(_draft(community, case, remediation="Upgrade to 2.4.2."), 201)
    assert revised["draft"]["number"] == 2
    assert _ok(community.get(None, f"{ADVISORIES}/{number}"))["revisions"] == [1]
    approved = _ok(community.post(second, publish, {"sha256": revised["draft"]["sha256"]}))
    assert approved["revisions"] == [1, 2]
    assert approved["current"]["document"]["remediation"] == "Upgrade to 2.4.2."
    first = _ok(community.get(None, f"{ADVISORIES}/{number}/revisions/1"))
    assert first["document"]["remediation"] == "Upgrade to 2.4.1."
    assert community.get(None, f"{ADVISORIES}/{number}/revisions/3").status_code == 404

    events = [(e["action"], e["detail"]) for e in _audit(community)]
    published_events = [d for a, d in events if a == "advisory.published"]
    assert [(d["revision"], d["author"], d["approver"]) for d in published_events] == [
        (2, community.analyst.user_id, second.user_id),
        (1, community.analyst.user_id, second.user_id),
    ]
    assert [a for a, _ in events].count("advisory.drafted") == 2


def test_credits_respect_the_reporters_consent(community: Community) -> None:
    vuln = community.file(body(SOFTWARE_VULN, consent={"share": True, "credit": False}))
    case = _coordinating_case(community, vuln)
    document = _ok(_draft(community, case), 201)["draft"]["document"]
    assert [c["type"] for c in document["credits"]] == ["COORDINATOR"]


def test_a_new_draft_replaces_an_unapproved_one(community: Community) -> None:
    case = _coordinating_case(community)
    first = _ok(_draft(community, case), 201)["draft"]
    second = _ok(_draft(community, case, summary="Reworded."), 201)["draft"]
    assert first["number"] == second["number"] == 1 and first["sha256"] != second["sha256"]
    _clock(community).set(EMBARGO_END)
    number = "PDXA-2026-0001"
    stale = community.post(_second_analyst(community), f"{ADVISORIES}/{number}/publish",
                           {"sha256": first["sha256"]})  # fmt: skip
    assert stale.status_code == 409
    with community.api.runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(AdvisoryRevision)) == 1


def test_ending_an_embargo_early_needs_a_second_analyst(community: Community) -> None:
    case = _coordinating_case(community)
    path = f"{CASES}/{case}/embargo/override"
    asked = _ok(community.post(community.analyst, path, {"reason": "exploited in the wild"}))
    assert asked["embargo_override"]["reason"] == "exploited in the wild"
    assert asked["embargo_seconds_remaining"] > 0
    again = community.post(community.analyst, path, {"reason": "once more"})
    assert again.status_code == 409
    assert community.post(community.analyst, f"{path}/approve").status_code == 403
    for caller, status in ((community.vendor, 403), (community.participant, 404), (None, 401)):
        assert community.post(caller, f"{path}/approve").status_code == status
    second = _second_analyst(community)
    _clock(community).advance(timedelta(hours=2))
    ended = _ok(community.post(second, f"{path}/approve"))
    assert ended["embargo_seconds_remaining"] == 0 and ended["embargo_override"] is None
    assert datetime.fromisoformat(ended["embargo_end"]) == START + timedelta(hours=2)
    (event,) = [e for e in _audit(community) if e["action"] == "case.embargo_overridden"]
    assert event["detail"]["requested_by"] == community.analyst.user_id
    assert event["detail"]["approved_by"] == second.user_id
    assert event["detail"]["reason"] == "exploited in the wild"
    assert community.post(community.analyst, path, {"reason": "again"}).status_code == 409

    # With the embargo over, the advisory is published at once (by the second analyst).
    draft = _ok(_draft(community, case), 201)["draft"]
    published = community.post(second, f"{ADVISORIES}/PDXA-2026-0001/publish",
                               {"sha256": draft["sha256"]})  # fmt: skip
    assert published.status_code == 200, published.text
    assert community.get(None, f"{ADVISORIES}/PDXA-2026-0001").status_code == 200


def test_the_two_person_rule_is_an_audited_admin_setting(community: Community) -> None:
    settings = "/api/v1/clearinghouse/settings"
    assert _ok(community.get(community.analyst, settings))["two_person_rule"] is True
    assert community.get(community.reporter, settings).status_code == 403
    off = {"two_person_rule": False, "reason": "one analyst on duty over the holidays"}
    refused = community.api.http.patch(settings, json=off, headers=community.analyst.headers)
    assert refused.status_code == 403
    changed = community.api.http.patch(
        settings, json=off, headers=community.api.agency_admin.headers
    )
    assert _ok(changed)["two_person_rule"] is False
    (event,) = [e for e in _audit(community) if e["action"] == "settings.change"]
    assert event["detail"] == {"key": "clearinghouse.two_person_rule", "from": True, "to": False,
                               "reason": "one analyst on duty over the holidays"}  # fmt: skip

    case = _coordinating_case(community)
    ended = _ok(community.post(community.analyst, f"{CASES}/{case}/embargo/override",
                               {"reason": "patch is out"}))  # fmt: skip
    assert ended["embargo_seconds_remaining"] == 0
    draft = _ok(_draft(community, case), 201)["draft"]
    own = community.post(community.analyst, f"{ADVISORIES}/PDXA-2026-0001/publish",
                         {"sha256": draft["sha256"]})  # fmt: skip
    assert own.status_code == 200, own.text


def test_bad_advisory_input_is_refused_and_nothing_is_stored(community: Community) -> None:
    vuln = community.file(body(CREDITED, root_cause="src/other.c:g"))
    opened = _ok(community.post(community.analyst, CASES, {"vulns": [vuln["id"]], "title": "x y z"}),
                 201)  # fmt: skip
    not_yet = _draft(community, opened["number"])
    assert not_yet.status_code == 409 and not_yet.json()["error"]["field"] == "case"
    case = _coordinating_case(community)
    cases = [
        ({"affected": [{"purl": "not a purl"}]}, 422, "affected.0.purl"),
        ({"affected": [{"purl": "pkg:pypi/x", "cpe": "cpe:2.3:a:x:y:1:*:*:*:*:*:*:*"}]}, 422, None),
        ({"affected": [{"purl": "pkg:pypi/x", "ranges": [{"type": "SEMVER"}]}]}, 422, None),
        ({"aliases": ["CVE-26-1"]}, 422, None),
        ({"references": [{"type": "WEB", "url": "javascript:alert(1)"}]}, 422, None),
        ({"credits": [{"name": "x", "type": "HERO"}]}, 422, None),
        ({"recipients": {"orgs": ["no-such-org"]}}, 422, "recipients.orgs.0"),
        ({"tlp": "RED"}, 422, "recipients.users"),
    ]
    for fields, status, field in cases:
        response = _draft(community, case, **fields)
        assert response.status_code == status, (fields, response.text)
        if field is not None:
            assert response.json()["error"]["field"] == field, (fields, response.text)
    assert _draft(community, "PDX-2026-9999").status_code == 404
    for caller, status in ((community.reporter, 403), (community.vendor, 403),
                           (community.participant, 404)):  # fmt: skip
        assert _draft(community, case, caller).status_code == status
    assert community.post(None, ADVISORIES, {"case": case}).status_code == 401
    with community.api.runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Advisory)) == 0
    _ok(_draft(community, case), 201)
    relabel = _draft(community, case, tlp="GREEN")
    assert relabel.status_code == 409 and relabel.json()["error"]["field"] == "tlp"
    bad_digest = community.post(_second_analyst(community), f"{ADVISORIES}/PDXA-2026-0001/publish",
                                {"sha256": "short"})  # fmt: skip
    assert bad_digest.status_code == 422


def test_the_cli_drafts_publishes_lists_and_shows(community: Community, run: Run) -> None:
    case = _coordinating_case(community)
    drafted = cli_json(run(community.analyst, "advisories", "draft", case,
                           "--title", "Heap overflow in libexample", "--summary", "Overflow.",
                           "--remediation", "Upgrade to 2.4.1.",
                           "--reference", "https://example.org/fix", "--json"))  # fmt: skip
    sha256 = drafted["draft"]["sha256"]
    second = _second_analyst(community)
    early = run(second, "advisories", "publish", "PDXA-2026-0001", "--sha256", sha256)
    assert early.exit_code == 1 and "field: embargo_end" in early.output
    _clock(community).set(EMBARGO_END)
    published = run(second, "advisories", "publish", "PDXA-2026-0001", "--sha256", sha256)
    assert published.exit_code == 0, published.output
    assert "PDXA-2026-0001 revision 1" in published.stdout
    assert "Vendor Only Inc: fixed (Fixed in 2.4.1.)" in published.stdout
    public = Caller(token="", user_id="", org_id="")
    listed = run(public, "advisories", "list")
    assert listed.exit_code == 0, listed.output
    assert "PDXA-2026-0001" in listed.stdout and "Heap overflow in libexample" in listed.stdout
    shown = run(public, "advisories", "show", "pdxa-2026-0001")
    assert shown.exit_code == 0, shown.output
    assert "CVE-2026-12345" in shown.stdout and "pkg:pypi/libexample" in shown.stdout
    missing = run(public, "advisories", "show", "PDXA-2026-0404")
    assert missing.exit_code == 1 and "HTTP 404" in missing.output


def test_the_cli_moves_approves_and_overrides(community: Community, run: Run) -> None:
    vuln = community.file(CREDITED)
    case = cli_json(run(community.analyst, "cases", "open", "--vuln", vuln["id"],
                        "--title", "Heap overflow", "--json"))["number"]  # fmt: skip
    added = _ok(community.post(community.analyst, f"{CASES}/{case}/vulnerabilities",
                               {"title": "Overflow", "cvss_v3": V3}), 201)  # fmt: skip
    vulnerability = added["vulnerabilities"][0]["id"]
    vendor = community.vendor.org_id
    _ok(community.post(community.analyst, f"{CASES}/{case}/vendors", {"org_id": vendor}), 201)
    _ok(community.post(community.vendor, f"{CASES}/{case}/vendors/{vendor}/status",
                       {"vulnerability_id": vulnerability, "status": "affected"}))  # fmt: skip
    approved = cli_json(run(community.analyst, "cases", "approve", case, vendor,
                            "--vulnerability", vulnerability, "--json"))  # fmt: skip
    assert approved["vendors"][0]["statuses"][0]["approved"] is True
    moved = cli_json(run(community.analyst, "cases", "move", case, "coordinating", "--json"))
    assert moved["state"] == "coordinating"
    asked = run(community.analyst, "cases", "override-embargo", case, "--reason", "in the wild")
    assert asked.exit_code == 0 and "awaiting a second analyst: in the wild" in asked.stdout
    own = run(community.analyst, "cases", "approve-override", case)
    assert own.exit_code == 1 and "two-person rule" in own.output
    ended = run(_second_analyst(community), "cases", "approve-override", case)
    assert ended.exit_code == 0 and "(ended)" in ended.stdout
    closing = run(community.analyst, "cases", "move", case, "closed")
    assert closing.exit_code == 1 and "field: reason" in closing.output
