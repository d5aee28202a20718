"""Coordinated-disclosure cases through the API and CLI: opening from reports, PDX numbers, the
embargo, scored vulnerabilities, vendors with deadlines and approved statements, posts with
revisions; who sees a case (participants only, 404 for everyone else); bad input; the audit log."""

from __future__ import annotations

import hashlib
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from httpx2 import Response

from predeploy.accounts.actor import Actor
from predeploy.accounts.models import Capacity, Role
from predeploy.clearinghouse import cases
from predeploy.clearinghouse.schemas import CaseCreate
from predeploy.clock import FrozenClock
from tests.clearinghouse.conftest import SOFTWARE_VULN, VULNS, Community, Run, body, cli_json
from tests.conftest import START, Caller

CASES = "/api/v1/clearinghouse/cases"
V3 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
V4 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"
SSVC = {"RP": "N", "SCON": "Y", "RC": "C", "SC": "M", "SE": "A", "U": "S", "PSI": "S"}
PAYLOAD = b"print('A' * 5000)  # smashes parse_header\n"


def _clock(community: Community) -> FrozenClock:
    clock = community.api.runtime.clock
    assert isinstance(clock, FrozenClock)
    return clock


def _patch(community: Community, caller: Caller | None, path: str, json: Any) -> Response:
    headers = caller.headers if caller else {}
    return community.api.http.patch(path, json=json, headers=headers)


def _ok(response: Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    result: dict[str, Any] = response.json()
    return result


def _listed(response: Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    result: list[dict[str, Any]] = response.json()
    return result


def _open(community: Community, *vuln_ids: str, **fields: Any) -> dict[str, Any]:
    if not vuln_ids:
        vuln_ids = (
            community.file(body(SOFTWARE_VULN, root_cause=f"src/{uuid.uuid4().hex}.c:f"))["id"],
        )
    payload = {"vulns": list(vuln_ids), "title": "Heap overflow in libexample", **fields}
    return _ok(community.post(community.analyst, CASES, payload), 201)


def _case_with_vendor(community: Community) -> tuple[dict[str, Any], str]:
    """A case from a report of the reporter org, one vulnerability, the vendor-only org invited."""
    case = _open(community)
    path = f"{CASES}/{case['number']}"
    case = _ok(community.post(community.analyst, f"{path}/vulnerabilities",
                              {"title": "Overflow in parse_header", "cvss_v3": V3}), 201)  # fmt: skip
    _ok(community.post(community.analyst, f"{path}/vendors", {"org_id": community.vendor.org_id}),
        201)  # fmt: skip
    return case, case["vulnerabilities"][0]["id"]


def _audit_actions(community: Community) -> list[str]:
    response = community.get(community.api.agency_admin, "/api/v1/audit", limit=500)
    return [e["action"] for e in _ok(response)["items"]]


def test_the_whole_flow_of_a_case(community: Community) -> None:
    vuln = community.file(SOFTWARE_VULN)
    case = _open(community, vuln["id"], summary="Found by an AI fuzzer.")
    assert (case["number"], case["state"], case["tlp"]) == ("PDX-2026-0001", "open", "AMBER")
    # Noon UTC, 45 days after opening, and the time left by the server's clock.
    assert datetime.fromisoformat(case["embargo_end"]) == datetime(2027, 1, 14, 12, tzinfo=UTC)
    assert case["embargo_seconds_remaining"] == 45 * 86_400
    assert case["vulns"] == [vuln["id"]] and case["owner_id"] == community.analyst.user_id
    linked = _ok(community.get(community.analyst, f"{VULNS}/{vuln['id']}"))
    assert (linked["status"], linked["close_reason"]) == ("case_opened", "case PDX-2026-0001")

    path = f"{CASES}/{case['id']}"
    added = _ok(community.post(community.analyst, f"{path}/vulnerabilities", {
        "title": "Overflow in parse_header", "cve_id": "CVE-2026-12345", "cwe": "cwe-787",
        "cvss_v3": V3, "cvss_v4": V4, "ssvc": SSVC}), 201)  # fmt: skip
    scored = added["vulnerabilities"][0]
    assert scored["cwe"] == "CWE-787" and scored["cve_id"] == "CVE-2026-12345"
    assert (scored["cvss_v3"]["base_score"], scored["cvss_v3"]["severity"]) == (9.8, "Critical")
    assert (scored["cvss_v4"]["version"], scored["cvss_v4"]["base_score"]) == ("4.0", 9.3)
    assert scored["ssvc"]["decision"] == "coordinator_triage" and scored["ssvc"]["outcome"]
    vulnerability = scored["id"]

    invited = _ok(community.post(community.analyst, f"{path}/vendors",
                                 {"org_id": community.vendor.org_id}), 201)  # fmt: skip
    (vendor,) = invited["vendors"]
    assert datetime.fromisoformat(vendor["deadline"]) == START + timedelta(days=14)
    assert vendor["overdue"] is False and vendor["org_name"] == "Vendor Only Inc"
    assert [s["status"] for s in vendor["statuses"]] == ["not_yet_assessed"]

    status_path = f"{path}/vendors/{community.vendor.org_id}/status"
    answer = {"vulnerability_id": vulnerability, "status": "affected",
              "statement": "Versions before 2.4.1 are affected."}  # fmt: skip
    answered = _ok(community.post(community.vendor, status_path, answer))
    (status,) = answered["vendors"][0]["statuses"]
    assert (status["status"], status["approved"]) == ("affected", False)
    approve = f"{path}/vendors/{community.vendor.org_id}/approve"
    approved = _ok(community.post(community.analyst, approve, {"vulnerability_id": vulnerability}))
    (status,) = approved["vendors"][0]["statuses"]
    assert status["approved"] is True and status["approved_by"] == community.analyst.user_id
    # A change after approval is a new draft, to approve again.
    changed = _ok(community.post(community.vendor, status_path, {**answer, "status": "fixed"}))
    (status,) = changed["vendors"][0]["statuses"]
    assert (status["status"], status["approved"], status["approved_at"]) == ("fixed", False, None)

    moved = _ok(community.post(community.analyst, f"{path}/state", {"state": "coordinating"}))
    assert moved["state"] == "coordinating"
    later = (START + timedelta(days=60)).isoformat()
    extended = _ok(_patch(community, community.analyst, f"{path}/embargo", {"embargo_end": later}))
    assert extended["embargo_seconds_remaining"] == 60 * 86_400

    post = _ok(community.post(community.vendor, f"{path}/posts", {"body": "Fix in 2.4.1."}), 201)
    edited = _ok(_patch(community, community.vendor, f"{path}/posts/{post['id']}",
                        {"body": "Fix released in 2.4.1."}))  # fmt: skip
    assert (edited["body"], edited["revisions"]) == ("Fix released in 2.4.1.", 2)
    _clock(community).advance(timedelta(seconds=1))
    _ok(community.post(community.reporter, f"{path}/posts", {"body": "Thanks!"}), 201)
    posts = _listed(community.get(community.analyst, f"{path}/posts"))
    assert [(p["body"], p["revisions"]) for p in posts] == [
        ("Fix released in 2.4.1.", 2),
        ("Thanks!", 1),
    ]
    assert _ok(community.get(community.analyst, path))["posts_count"] == 2

    disclosed = _ok(community.post(community.analyst, f"{path}/state", {"state": "disclosed"}))
    assert disclosed["state"] == "disclosed"
    again = community.post(community.analyst, f"{path}/state", {"state": "closed", "reason": "x y"})
    assert again.status_code == 409 and again.json()["error"]["field"] == "state"


def test_a_vendor_that_misses_its_deadline_is_overdue(community: Community) -> None:
    case, _ = _case_with_vendor(community)
    _clock(community).advance(timedelta(days=14, seconds=1))
    shown = _ok(community.get(community.analyst, f"{CASES}/{case['id']}"))
    assert shown["vendors"][0]["overdue"] is True
    assert shown["embargo_seconds_remaining"] == (45 - 14) * 86_400 - 1


def test_closing_needs_a_reason(community: Community) -> None:
    case = _open(community)
    path = f"{CASES}/{case['id']}/state"
    refused = community.post(community.analyst, path, {"state": "closed"})
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "reason"
    closed = _ok(community.post(community.analyst, path, {"state": "closed", "reason": "no fix"}))
    assert (closed["state"], closed["close_reason"]) == ("closed", "no fix")


def test_case_numbers_count_up_within_each_year(community: Community) -> None:
    numbers = [_open(community)["number"]]
    _clock(community).advance(timedelta(seconds=1))
    numbers.append(_open(community)["number"])
    _clock(community).set(datetime(2027, 1, 2, 9, tzinfo=UTC))
    numbers.append(_open(community)["number"])
    assert numbers == ["PDX-2026-0001", "PDX-2026-0002", "PDX-2027-0001"]
    by_number = _ok(community.get(community.analyst, f"{CASES}/pdx-2026-0002"))
    assert by_number["number"] == "PDX-2026-0002"
    listed = _ok(community.get(community.analyst, CASES))["items"]
    assert [c["number"] for c in listed] == list(reversed(numbers))


def test_concurrent_openings_never_share_a_number(community: Community) -> None:
    vulns = [community.file(body(SOFTWARE_VULN, root_cause=f"src/{i}.c:f"))["id"] for i in range(6)]
    analyst = Actor(
        user_id=community.analyst.user_id,
        org_id=community.analyst.org_id,
        roles=frozenset({Role.ANALYST}),
        capacities=frozenset({Capacity.AGENCY}),
    )
    runtime = community.api.runtime

    def open_one(vuln_id: str) -> str:
        with runtime.unit(analyst) as ctx:
            return cases.open_case(ctx, CaseCreate(vulns=[vuln_id], title="at once")).number

    with ThreadPoolExecutor(max_workers=6) as pool:
        numbers = sorted(pool.map(open_one, vulns))
    assert numbers == [f"PDX-2026-{n:04d}" for n in range(1, 7)]


def test_a_case_is_seen_by_its_participants_only(community: Community) -> None:
    case, vulnerability = _case_with_vendor(community)
    path = f"{CASES}/{case['id']}"
    missing_id = str(uuid.uuid4())
    for caller in (community.analyst, community.reporter, community.vendor):
        assert community.get(caller, path).status_code == 200
        assert community.get(caller, f"{path}/posts").status_code == 200
        assert [c["id"] for c in _ok(community.get(caller, CASES))["items"]] == [case["id"]]
    for caller in (community.participant, community.developer, community.evaluator,
                   community.recipient):  # fmt: skip
        for suffix in ("", "/posts"):
            hidden = community.get(caller, f"{path}{suffix}")
            absent = community.get(caller, f"{CASES}/{missing_id}{suffix}")
            # Hidden and missing answer alike, but for the id that was asked for.
            assert hidden.status_code == absent.status_code == 404
            assert hidden.text == absent.text.replace(missing_id, case["id"])
        assert community.get(caller, f"{CASES}/{case['number']}").status_code == 404
        assert _ok(community.get(caller, CASES))["items"] == []
    assert community.get(None, path).status_code == 401

    # A second vendor is invited; the first one answers. Its draft is its own and the agency's.
    _ok(community.post(community.analyst, f"{path}/vendors",
                       {"org_id": community.developer.org_id}), 201)  # fmt: skip
    _ok(community.post(community.vendor, f"{path}/vendors/{community.vendor.org_id}/status",
                       {"vulnerability_id": vulnerability, "status": "affected",
                        "statement": "secret draft"}))  # fmt: skip

    def statuses(caller: Caller) -> list[Any]:
        vendors = _ok(community.get(caller, path))["vendors"]
        return [s["statement"] for v in vendors if v["org_id"] == community.vendor.org_id
                for s in v["statuses"]]  # fmt: skip

    assert statuses(community.vendor) == statuses(community.analyst) == ["secret draft"]
    assert statuses(community.developer) == statuses(community.reporter) == []
    _ok(community.post(community.analyst, f"{path}/vendors/{community.vendor.org_id}/approve",
                       {"vulnerability_id": vulnerability}))  # fmt: skip
    assert statuses(community.developer) == statuses(community.reporter) == ["secret draft"]


def test_an_invited_vendor_sees_the_linked_report_and_its_proof_of_concept(
    community: Community,
) -> None:
    vuln = community.file(body(SOFTWARE_VULN, tlp="AMBER+STRICT"))
    upload = community.api.http.post(
        f"{VULNS}/{vuln['id']}/attachments",
        params={"filename": "poc.py", "proof_of_concept": True},
        content=PAYLOAD,
        headers={**community.reporter.headers, "Content-Type": "text/x-python"},
    )
    attachment = _ok(upload, 201)
    content = f"{VULNS}/{vuln['id']}/attachments/{attachment['id']}/content"
    assert community.get(community.vendor, f"{VULNS}/{vuln['id']}").status_code == 404
    case = _open(community, vuln["id"])
    _ok(community.post(community.analyst, f"{CASES}/{case['id']}/vendors",
                       {"org_id": community.vendor.org_id}), 201)  # fmt: skip
    assert _ok(community.get(community.vendor, f"{VULNS}/{vuln['id']}"))["id"] == vuln["id"]
    assert _ok(community.get(community.vendor, CASES))["items"][0]["vulns"] == [vuln["id"]]
    got = community.get(community.vendor, content)
    assert (
        got.status_code == 200
        and hashlib.sha256(got.content).digest() == hashlib.sha256(PAYLOAD).digest()
    )
    # An uninvited vendor sees neither the report nor its payload.
    assert community.get(community.developer, f"{VULNS}/{vuln['id']}").status_code == 404
    assert community.get(community.developer, content).status_code == 404
    explained = _ok(community.get(community.analyst, "/api/v1/clearinghouse/visibility/explain",
                                  object=f"vuln:{vuln['id']}", org=community.vendor.org_id))  # fmt: skip
    assert explained["visible"] is True
    assert explained["reasons"] == [f"Vendor Only Inc is a vendor invited to case {case['number']}"]
    assert "vuln.payload_read" in _audit_actions(community)


def test_a_report_without_sharing_consent_stays_with_the_agency(community: Community) -> None:
    vuln = community.file(body(SOFTWARE_VULN, consent={"share": False, "credit": False}))
    case = _open(community, vuln["id"])
    _ok(community.post(community.analyst, f"{CASES}/{case['id']}/vendors",
                       {"org_id": community.vendor.org_id}), 201)  # fmt: skip
    assert community.get(community.vendor, f"{VULNS}/{vuln['id']}").status_code == 404
    assert _ok(community.get(community.vendor, f"{CASES}/{case['id']}"))["vulns"] == []


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"cvss_v3": "CVSS:3.1/AV:Q/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}, "cvss_v3", "AV"),
        ({"cvss_v3": V4}, "cvss_v3", "CVSS 3.0 or 3.1"),
        ({"cvss_v4": V3}, "cvss_v4", "CVSS 4.0"),
        ({"cwe": "CWE-abc"}, "cwe", "CWE"),
        ({"cve_id": "CVE-26-1"}, "cve_id", ""),
        ({"ssvc": {"RP": "N"}}, None, "ssvc"),
    ],
)
def test_a_bad_case_vulnerability_is_refused_naming_the_field(
    community: Community, changes: dict[str, Any], field: str | None, words: str
) -> None:
    case = _open(community)
    path = f"{CASES}/{case['id']}/vulnerabilities"
    response = community.post(community.analyst, path, {"title": "Overflow", **changes})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    if field is not None:
        assert error["field"] == field, error
    else:
        assert error["field"].startswith("ssvc"), error
    assert words in error["message"], error
    assert _ok(community.get(community.analyst, f"{CASES}/{case['id']}"))["vulnerabilities"] == []


def test_bad_case_input_is_refused_and_nothing_is_stored(community: Community) -> None:
    vuln = community.file(SOFTWARE_VULN)
    past = (START - timedelta(hours=1)).isoformat()
    for payload, field in (
        ({"vulns": [vuln["id"]], "title": "t t t", "embargo_end": past}, "embargo_end"),
        ({"vulns": [vuln["id"], "no-such-report"], "title": "t t t"}, "vulns.1"),
    ):
        refused = community.post(community.analyst, CASES, payload)
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["field"] == field
    assert _ok(community.get(community.analyst, f"{VULNS}/{vuln['id']}"))["status"] == "new"
    assert _ok(community.get(community.analyst, CASES))["items"] == []

    case = _open(community, vuln["id"])
    path = f"{CASES}/{case['id']}"
    again = community.post(community.analyst, CASES, {"vulns": [vuln["id"]], "title": "t t t"})
    assert again.status_code == 409 and again.json()["error"]["field"] == "vulns.0"
    not_vendor = community.post(community.analyst, f"{path}/vendors",
                                {"org_id": community.recipient.org_id})  # fmt: skip
    assert not_vendor.status_code == 422, not_vendor.text
    assert not_vendor.json()["error"]["field"] == "org_id"
    assert "not a vendor" in not_vendor.json()["error"]["message"]
    early = _patch(community, community.analyst, f"{path}/embargo", {"embargo_end": past})
    assert early.status_code == 422 and early.json()["error"]["field"] == "embargo_end"
    late_deadline = community.post(community.analyst, f"{path}/vendors",
                                   {"org_id": community.vendor.org_id, "deadline": past})  # fmt: skip
    assert late_deadline.status_code == 422
    assert late_deadline.json()["error"]["field"] == "deadline"
    shown = _ok(community.get(community.analyst, path))
    assert shown["vendors"] == [] and shown["embargo_end"] == case["embargo_end"]
    assert "case.embargo" not in _audit_actions(community)


def test_who_may_do_what_on_a_case(community: Community) -> None:
    case, vulnerability = _case_with_vendor(community)
    path = f"{CASES}/{case['id']}"
    vendor_status = f"{path}/vendors/{community.vendor.org_id}/status"
    answer = {"vulnerability_id": vulnerability, "status": "not_affected"}
    analyst_only: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", f"{path}/state", {"state": "coordinating"}),
        ("PATCH", f"{path}/embargo", {"embargo_end": (START + timedelta(days=50)).isoformat()}),
        ("POST", f"{path}/vulnerabilities", {"title": "Another one"}),
        ("POST", f"{path}/vendors", {"org_id": community.developer.org_id}),
        ("POST", f"{path}/vendors/{community.vendor.org_id}/approve",
         {"vulnerability_id": vulnerability}),
    ]  # fmt: skip

    def send(caller: Caller | None, method: str, url: str, payload: Any) -> int:
        if method == "PATCH":
            return _patch(community, caller, url, payload).status_code
        return community.post(caller, url, payload).status_code

    # Participants see the case, so they are refused (403); everyone else does not (404).
    for method, url, payload in analyst_only:
        for caller, status in ((community.reporter, 403), (community.vendor, 403),
                               (community.participant, 404), (community.evaluator, 404),
                               (None, 401)):  # fmt: skip
            assert send(caller, method, url, payload) == status, (caller, url)
    opened = community.post(community.reporter, CASES, {"vulns": case["vulns"], "title": "mine"})
    assert opened.status_code == 403
    assert (
        community.post(community.vendor, CASES, {"vulns": ["x"], "title": "mine"}).status_code
        == 403
    )

    # Only the vendor's own admins and members answer for it.
    for caller, status in ((community.reporter, 403), (community.analyst, 403),
                           (community.participant, 404)):  # fmt: skip
        assert community.post(caller, vendor_status, answer).status_code == status
    _ok(community.post(community.vendor, vendor_status, answer))
    other_vendor = f"{path}/vendors/{community.developer.org_id}/status"
    assert community.post(community.vendor, other_vendor, answer).status_code == 403
    wrong = community.post(community.vendor, vendor_status, {**answer, "vulnerability_id": "x"})
    assert wrong.status_code == 422 and wrong.json()["error"]["field"] == "vulnerability_id"

    # Participants post; only a post's author edits it; outsiders see nothing.
    post = _ok(community.post(community.reporter, f"{path}/posts", {"body": "hello"}), 201)
    assert community.post(community.participant, f"{path}/posts", {"body": "x"}).status_code == 404
    assert community.post(None, f"{path}/posts", {"body": "x"}).status_code == 401
    edit = f"{path}/posts/{post['id']}"
    assert _patch(community, community.vendor, edit, {"body": "mine now"}).status_code == 403
    assert _patch(community, community.analyst, edit, {"body": "mine now"}).status_code == 403
    assert _patch(community, community.participant, edit, {"body": "x"}).status_code == 404
    assert (
        _patch(community, community.reporter, f"{path}/posts/nope", {"body": "x"}).status_code
        == 404
    )
    assert _listed(community.get(community.vendor, f"{path}/posts"))[0]["body"] == "hello"
    assert community.get(None, CASES).status_code == 401


def test_every_case_action_is_audited(community: Community) -> None:
    case, vulnerability = _case_with_vendor(community)
    path = f"{CASES}/{case['id']}"
    _ok(community.post(community.vendor, f"{path}/vendors/{community.vendor.org_id}/status",
                       {"vulnerability_id": vulnerability, "status": "fixed"}))  # fmt: skip
    _ok(community.post(community.analyst, f"{path}/vendors/{community.vendor.org_id}/approve",
                       {"vulnerability_id": vulnerability}))  # fmt: skip
    _ok(_patch(community, community.analyst, f"{path}/embargo",
               {"embargo_end": (START + timedelta(days=30)).isoformat()}))  # fmt: skip
    _ok(community.post(community.analyst, f"{path}/state", {"state": "coordinating"}))
    post = _ok(community.post(community.vendor, f"{path}/posts", {"body": "hi"}), 201)
    _ok(_patch(community, community.vendor, f"{path}/posts/{post['id']}", {"body": "hello"}))
    actions = set(_audit_actions(community))
    assert {
        "case.opened", "vuln.case_opened", "case.vulnerability_added", "case.vendor_invited",
        "case.vendor_status", "case.statement_approved", "case.embargo", "case.state",
        "case.post_added", "case.post_edited",
    } <= actions  # fmt: skip
    # The vendor's own admins see what its members answered, in their org's log.
    vendor_admin = community.api.user(community.vendor.org_id, "admin")
    own = _ok(community.get(vendor_admin, "/api/v1/audit", limit=500))["items"]
    assert "case.vendor_status" in [e["action"] for e in own]


def test_the_cli_opens_shows_invites_answers_and_extends(community: Community, run: Run) -> None:
    vuln = community.file(SOFTWARE_VULN)
    case = cli_json(run(community.analyst, "cases", "open", "--vuln", vuln["id"],
                     "--title", "Heap overflow", "--json"))  # fmt: skip
    number = case["number"]
    assert number == "PDX-2026-0001"
    _ok(community.post(community.analyst, f"{CASES}/{number}/vulnerabilities",
                       {"title": "Overflow", "cvss_v3": V3}), 201)  # fmt: skip
    invited = cli_json(run(community.analyst, "cases", "invite", number, community.vendor.org_id,
                        "--json"))  # fmt: skip
    vulnerability = invited["vulnerabilities"][0]["id"]
    answered = run(community.vendor, "cases", "status", number, community.vendor.org_id,
                   "--vulnerability", vulnerability, "--status", "affected",
                   "--statement", "We are affected.")  # fmt: skip
    assert answered.exit_code == 0, answered.output
    assert "affected (unapproved)" in answered.stdout and "Vendor Only Inc" in answered.stdout
    extended = run(community.analyst, "cases", "embargo", number, "2027-02-01T12:00:00Z")
    assert extended.exit_code == 0, extended.output
    shown = run(community.reporter, "cases", "show", number)
    assert shown.exit_code == 0, shown.output
    assert number in shown.stdout and "2027-02-01" in shown.stdout and "63d 0h left" in shown.stdout
    refused = run(community.analyst, "cases", "embargo", number, "2026-01-01T12:00:00Z")
    assert refused.exit_code == 1 and "field: embargo_end" in refused.output
    hidden = run(community.participant, "cases", "show", number)
    assert hidden.exit_code == 1 and "HTTP 404" in hidden.output
